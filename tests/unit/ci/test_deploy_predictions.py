"""A release's prediction log outlives the release: the store it is run with, how it is stopped, how the log is read
back (ci/deploy/predictions.py, ci/deploy/plan.py), as argv."""

from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from ci.config import config_from_mapping
from ci.deploy import plan
from ci.deploy.names import EnvironmentNames
from ci.deploy.predictions import (PredictionStore, export_command, exported_count, hosts_holding_log,
                                   prediction_store_for)
from ci.errors import ConfigError

RELEASE = plan.Release("20260102T030405-0c89f6af6c8e", "sha256:0c89f6af6c8e" + "0" * 52, "sha256:" + "d" * 64,
                       "1.0.0+abc", "f" * 40)
NAMES = EnvironmentNames("ml-model-service", "staging", "/var/lib/mlci")
SECRET_URL = "postgresql://predictions:s3cr3t@db.internal:5432/predictions"


def value_after(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


def env_values(command: list[str]) -> dict[str, str]:
    pairs = [command[index + 1] for index, part in enumerate(command) if part == "--env"]
    return dict(pair.split("=", 1) for pair in pairs)


def test_a_release_keeps_its_predictions_on_the_environments_volume_not_in_memory():
    command = plan.run_release_command(NAMES, RELEASE)
    assert "--tmpfs" not in command  # a tmpfs is gone with the container: every deploy lost the log
    assert value_after(command, "--mount") == (
        "type=volume,source=ml-model-service-staging-predictions,target=/data,"
        "volume-label=io.mlci.project=ml-model-service,volume-label=io.mlci.role=predictions,"
        "volume-label=io.mlci.environment=staging")
    assert "DATABASE_URL" not in env_values(command) and "--env-file" not in command
    assert PredictionStore().run_input() is None


def test_every_release_of_an_environment_mounts_the_same_volume_and_another_environment_its_own():
    other_release = plan.Release("20260103T000000-1111aaaa2222", "sha256:1111", "sha256:2", "1.0.1", "e" * 40)
    mounts = {value_after(plan.run_release_command(NAMES, release), "--mount") for release in (RELEASE, other_release)}
    assert len(mounts) == 1
    production = EnvironmentNames("ml-model-service", "production")
    assert "source=ml-model-service-production-predictions," in value_after(
        plan.run_release_command(production, RELEASE), "--mount")


def test_a_release_has_the_time_to_finish_its_requests_and_drain_its_log_before_docker_kills_it():
    command = plan.run_release_command(NAMES, RELEASE)
    shutdown = int(env_values(command)["SHUTDOWN_TIMEOUT_SECONDS"])
    stop = int(value_after(command, "--stop-timeout"))
    # uvicorn's graceful shutdown, then the prediction log's drain, each up to `shutdown` seconds, then the exit.
    assert stop > 2 * shutdown
    assert plan.stop_release_command("c") == ["docker", "stop", "--time", str(stop), "c"]
    assert plan.remove_release_commands("c") == [["docker", "stop", "--time", str(stop), "c"],
                                                 ["docker", "rm", "--force", "c"]]


def environment(variable: str = ""):
    return SimpleNamespace(database_url_variable=variable)


def test_with_postgresql_the_url_reaches_docker_run_on_its_stdin_never_in_argv_labels_or_repr():
    store = prediction_store_for(environment("PREDICTIONS_DATABASE_URL"), "staging",
                                 {"PREDICTIONS_DATABASE_URL": SECRET_URL})
    command = plan.run_release_command(NAMES, RELEASE, store)
    assert "s3cr3t" not in " ".join(command) and "s3cr3t" not in repr(store)
    assert value_after(command, "--env-file") == "/dev/stdin"
    assert "--mount" not in command
    assert store.run_input() == f"DATABASE_URL={SECRET_URL}\n".encode()
    assert store.shared_by_hosts


def test_a_named_database_variable_that_is_unset_or_no_postgresql_url_is_an_error_naming_it_not_its_value():
    with pytest.raises(ConfigError, match="PREDICTIONS_DATABASE_URL is not set: environment staging keeps"):
        prediction_store_for(environment("PREDICTIONS_DATABASE_URL"), "staging", {})
    with pytest.raises(ConfigError, match="must hold one postgresql:// URL") as raised:
        prediction_store_for(environment("PREDICTIONS_DATABASE_URL"), "staging",
                             {"PREDICTIONS_DATABASE_URL": "mysql://u:s3cr3t@db/p"})
    assert "s3cr3t" not in str(raised.value)
    with pytest.raises(ConfigError, match="must hold one postgresql:// URL"):  # a second env-file line
        prediction_store_for(environment("V"), "staging", {"V": SECRET_URL + "\nLOG_LEVEL=debug"})
    assert prediction_store_for(environment(), "staging", {"PREDICTIONS_DATABASE_URL": SECRET_URL}) == PredictionStore()


def test_ci_toml_names_the_variable_and_refuses_what_looks_like_the_url_itself():
    table = {"hosts": ["deploy@10.0.0.1:22"], "public_urls": ["http://10.0.0.1:8080"]}
    config = config_from_mapping({"environments": {"prod": {**table, "database_url_variable": "PREDICTIONS_DB"}}},
                                 source="ci.toml")
    assert config.environments["prod"].database_url_variable == "PREDICTIONS_DB"
    with pytest.raises(ConfigError, match="database_url_variable must name an environment variable") as raised:
        config_from_mapping({"environments": {"prod": {**table, "database_url_variable": SECRET_URL}}},
                            source="ci.toml")
    assert "s3cr3t" not in str(raised.value)


def test_the_export_runs_in_the_serving_release_with_the_since_it_was_given_in_utc():
    since = datetime(2026, 12, 3, 10, 0, tzinfo=timezone.utc)
    assert export_command("ml-model-service-staging-r1", since) == [
        "docker", "exec", "ml-model-service-staging-r1", "python", "-m", "model_app.export_predictions",
        "--since", "2026-12-03T10:00:00+00:00"]
    assert export_command("c", None) == ["docker", "exec", "c", "python", "-m", "model_app.export_predictions"]
    assert exported_count("warning\nexport_predictions: 1234 predictions\n") == 1234


def test_each_host_has_its_own_log_on_its_volume_and_a_shared_database_is_read_once():
    hosts = ("deploy@a:22", "deploy@b:22")
    assert hosts_holding_log(hosts, store_shared=False) == list(hosts)
    assert hosts_holding_log(hosts, store_shared=True) == ["deploy@a:22"]
