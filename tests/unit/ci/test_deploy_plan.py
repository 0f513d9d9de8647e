from datetime import datetime, timezone

import pytest

from ci.config import DeployConfig
from ci.deploy import plan
from ci.deploy.names import EnvironmentNames
from ci.errors import CannotRun, ConfigError, UserError
from ci.ssh_plan import HostAddress, known_hosts_line, ssh_command, ssh_options

RELEASE = plan.Release("20260102T030405-0c89f6af6c8e", "sha256:0c89f6af6c8e" + "0" * 52, "sha256:" + "d" * 64,
                       "1.0.0+abc", "f" * 40)
NAMES = EnvironmentNames("ml-model-service", "staging", "/var/lib/mlci")
PATHS = NAMES.paths


def test_release_ids_sort_by_time_and_name_the_image():
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert plan.release_id_for("sha256:0c89f6af6c8e1234", now) == "20260102T030405-0c89f6af6c8e"


def test_the_release_container_publishes_nothing_and_runs_read_only_by_image_id():
    command = plan.run_release_command(NAMES, RELEASE)
    assert command[:5] == ["docker", "run", "--detach", "--name",
                           "ml-model-service-staging-20260102T030405-0c89f6af6c8e"]
    assert "--publish" not in command and "-p" not in command
    assert "--read-only" in command and command[-1] == RELEASE.image_id
    assert "io.mlci.digest=" + RELEASE.digest in command
    assert command[command.index("--network") + 1] == "ml-model-service-staging"


def value_after(command: list[str], option: str) -> list[str]:
    return [command[index + 1] for index, word in enumerate(command) if word == option]


def test_a_release_runs_without_capabilities_or_new_privileges_and_within_memory_and_pids_limits():
    # Issue 14, defect 8: a release had no limits at all (the proxy had them); a flood or a leak filled the host.
    command = plan.run_release_command(NAMES, RELEASE)
    assert value_after(command, "--cap-drop") == ["ALL"]
    assert value_after(command, "--security-opt") == ["no-new-privileges"]
    assert value_after(command, "--memory") == ["512m"]
    assert value_after(command, "--memory-swap") == ["512m"]  # no swap beyond it: the limit is the limit
    assert value_after(command, "--pids-limit") == ["256"]
    assert "--privileged" not in command and "--cap-add" not in command


def test_release_limits_come_from_the_deploy_settings():
    limits = plan.ReleaseLimits.from_settings(DeployConfig(release_memory="1g", release_pids_limit=64))
    command = plan.run_release_command(NAMES, RELEASE, limits=limits)
    assert (value_after(command, "--memory"), value_after(command, "--pids-limit")) == (["1g"], ["64"])


@pytest.mark.parametrize("memory", ["", "lots", "512 m", "-1m", "0", "5m"])
def test_a_release_memory_limit_docker_would_refuse_or_that_cannot_run_the_model_names_its_key(memory):
    with pytest.raises(ConfigError, match="deploy.release_memory"):
        plan.ReleaseLimits.from_settings(DeployConfig(release_memory=memory))


def test_a_pids_limit_below_what_the_service_needs_names_its_key():
    with pytest.raises(ConfigError, match="deploy.release_pids_limit"):
        plan.ReleaseLimits.from_settings(DeployConfig(release_pids_limit=8))


def test_hosts_are_rolled_in_batches_in_order():
    assert plan.batches([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]
    assert plan.batches([1, 2], 1) == [[1], [2]]


def release(name, state="exited"):
    return {"release": name, "container": f"c-{name}", "state": state, "digest": "", "model_version": "",
            "commit": "", "image": ""}


def test_pruning_keeps_the_current_release_and_the_newest_others():
    releases = [release("5"), release("4", "running"), release("3"), release("2"), release("1")]
    assert [item["release"] for item in plan.releases_to_remove(releases, current="4", keep=3)] == ["2", "1"]
    assert plan.releases_to_remove(releases, current="4", keep=1) == [r for r in releases if r["release"] != "4"]


def test_rollback_goes_to_the_running_or_newest_older_release_or_the_one_asked_for():
    releases = [release("3", "running"), release("2"), release("1")]
    assert plan.rollback_target(releases, "3", None)["release"] == "2"
    assert plan.rollback_target(releases, "3", "1")["release"] == "1"
    with pytest.raises(UserError, match="release 9 is not retained"):
        plan.rollback_target(releases, "3", "9")
    with pytest.raises(CannotRun, match="no earlier release"):
        plan.rollback_target([release("1", "running")], "1", None)
    # Within the grace period the release that served before still runs: it is the one returned to.
    assert plan.rollback_target([release("3", "running"), release("2"), release("1", "running")], "3", None)[
        "release"] == "1"


def test_ssh_always_verifies_host_keys_and_ignores_user_configuration(tmp_path):
    options = ssh_options(tmp_path / "key", tmp_path / "known_hosts", tmp_path / "master")
    joined = " ".join(options)
    assert "StrictHostKeyChecking=yes" in joined and "-F /dev/null" in joined and "BatchMode=yes" in joined
    command = ssh_command(HostAddress.parse("deploy@10.0.0.5:2222"), options, ["docker", "ps", "--format", "{{x}}"])
    assert command[-2:] == ["deploy@10.0.0.5", "docker ps --format '{{x}}'"]


def test_host_addresses_are_parsed_or_refused_with_the_text():
    assert HostAddress.parse("root@127.0.0.1:2222") == HostAddress("root", "127.0.0.1", 2222)
    assert HostAddress.parse("deploy@web1").port == 22
    with pytest.raises(ConfigError, match="'web1' is not user@host"):
        HostAddress.parse("web1")
    assert known_hosts_line(HostAddress("root", "127.0.0.1", 2222), "ssh-ed25519 AAAA root@x") == (
        "[127.0.0.1]:2222 ssh-ed25519 AAAA")
