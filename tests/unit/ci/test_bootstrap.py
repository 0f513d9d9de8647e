"""`python3 -m ci` from any interpreter ends in the venv that holds the pinned requirements."""

import sys

import pytest

from ci import bootstrap


@pytest.fixture
def project(tmp_path):
    (tmp_path / "requirements").mkdir()
    (tmp_path / "requirements" / "ci.txt").write_text("requests==1\n")
    (tmp_path / "requirements" / "dev.txt").write_text("-r ci.txt\n")
    return tmp_path


def stamp(prefix, digest):
    prefix.mkdir(parents=True, exist_ok=True)
    (prefix / bootstrap.STAMP_NAME).write_text(digest + "\n")


def test_the_digest_changes_with_any_requirements_file(project):
    before = bootstrap.requirements_digest(project)
    (project / "requirements" / "ci.txt").write_text("requests==2\n")
    assert bootstrap.requirements_digest(project) != before


def test_an_interpreter_holding_the_requirements_is_used_as_is(project, monkeypatch):
    stamp(project / "current", bootstrap.requirements_digest(project))
    monkeypatch.setattr(sys, "prefix", str(project / "current"))
    monkeypatch.setattr(bootstrap.os, "execv", lambda *args: pytest.fail("must not re-exec"))
    bootstrap.ensure_project_environment(project, {})


def test_another_interpreter_is_replaced_by_the_projects_venv(project, monkeypatch):
    venv = project / ".venv"
    stamp(venv, bootstrap.requirements_digest(project))
    monkeypatch.setattr(sys, "prefix", str(project / "system"))
    monkeypatch.setattr(sys, "argv", ["ci", "lint"])
    calls = []
    monkeypatch.setattr(bootstrap.os, "execv", lambda program, argv: calls.append((program, argv)))
    bootstrap.ensure_project_environment(project, {})
    assert calls == [(venv / "bin" / "python", [str(venv / "bin" / "python"), "-m", "ci", "lint"])]


def test_a_stale_venv_is_reinstalled_first(project, monkeypatch):
    venv = project / "elsewhere"
    stamp(venv, "an older set of requirements")
    monkeypatch.setattr(sys, "prefix", str(project / "system"))
    created, executed = [], []
    monkeypatch.setattr(bootstrap, "create_venv", lambda *args: created.append(args))
    monkeypatch.setattr(bootstrap.os, "execv", lambda program, argv: executed.append(program))
    bootstrap.ensure_project_environment(project, {bootstrap.VENV_VARIABLE: str(venv)})
    assert created == [(venv, project, bootstrap.requirements_digest(project))]
    assert executed == [venv / "bin" / "python"]
