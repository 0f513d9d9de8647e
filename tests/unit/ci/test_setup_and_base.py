from pathlib import Path

import pytest

from ci.base_image import bootstrap_command, choose_base
from ci.commands.setup import (BOOTSTRAP_BASE, INSTALL_DOCKER, INSTALL_GROOVY_LINT, INSTALL_MMDEBSTRAP, INSTALL_TOOLS,
                               LINK_COMPOSE, START_DOCKERD, EngineFacts, plan_base, plan_engine)
from ci.config import ImageConfig

IMAGE = ImageConfig(base="python:3.11-slim", bootstrap_base="local/base:1")


def facts(**changes):
    values = dict(engine_reachable=True, dockerd_installed=True, compose_plugin_version="2.40.3",
                  compose_binary_available=True)
    values.update(changes)
    return EngineFacts(**values)


def test_ready_machine_needs_nothing():
    assert plan_engine(facts()) == []


def test_fresh_machine_installs_starts_and_links():
    fresh = facts(engine_reachable=False, dockerd_installed=False, compose_plugin_version="")
    assert plan_engine(fresh) == [INSTALL_DOCKER, START_DOCKERD, LINK_COMPOSE]


def test_missing_local_registry_is_installed_only_where_packages_can_be():
    assert plan_engine(facts(missing_tools=("wrk",))) == [INSTALL_TOOLS]
    assert plan_engine(facts(missing_tools=("wrk",), can_install=False)) == []


def test_the_jenkinsfile_linter_is_installed_where_npm_exists():
    assert plan_engine(facts(groovy_lint_installed=False, npm_available=True)) == [INSTALL_GROOVY_LINT]
    assert plan_engine(facts(groovy_lint_installed=False, npm_available=False)) == []


def test_installed_but_stopped_engine_is_only_started():
    assert plan_engine(facts(engine_reachable=False)) == [START_DOCKERD]


def test_present_base_is_used_as_is():
    choice = choose_base(IMAGE, base_present=True, pull_error=None, bootstrap_present=False)
    assert (choice.reference, choice.needs_bootstrap) == ("python:3.11-slim", False)


def test_pullable_base_is_used():
    choice = choose_base(IMAGE, base_present=False, pull_error="", bootstrap_present=False)
    assert choice.reference == "python:3.11-slim" and "pulled" in choice.reason


def test_unpullable_base_falls_back_to_the_bootstrapped_one():
    choice = choose_base(IMAGE, base_present=False, pull_error="no such host", bootstrap_present=True)
    assert choice.reference == "local/base:1" and not choice.needs_bootstrap
    assert "no such host" in choice.reason


def test_nothing_available_means_bootstrap():
    choice = choose_base(IMAGE, base_present=False, pull_error="no such host", bootstrap_present=False)
    assert choice.needs_bootstrap
    assert plan_base(choice, mmdebstrap_installed=False) == [INSTALL_MMDEBSTRAP, BOOTSTRAP_BASE]
    assert plan_base(choice, mmdebstrap_installed=True) == [BOOTSTRAP_BASE]


@pytest.mark.parametrize("present", [True, False])
def test_no_bootstrap_when_a_base_exists(present):
    choice = choose_base(IMAGE, base_present=present, pull_error=None if present else "x", bootstrap_present=True)
    assert plan_base(choice, mmdebstrap_installed=False) == []


def test_bootstrap_command_is_minimal_and_trimmed():
    command = bootstrap_command("bookworm", Path("/tmp/rootfs.tar"))
    assert command[:2] == ["mmdebstrap", "--variant=minbase"]
    assert "--include=python3,python3-venv,ca-certificates" in command
    assert "--dpkgopt=path-exclude=/usr/share/doc/*" in command
    assert command[-2:] == ["bookworm", "/tmp/rootfs.tar"]
