from pathlib import Path

from ci.commands.cleanup import project_prefix
from ci.config import Config
from ci.redaction import MASK, redact
from ci.test_plan import (HOST_WORKERS, compose_project_name, compose_tier_plan, parallel_options, pytest_command,
                          read_junit, tier_image_roles, tiers_for)

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="unit" errors="1" failures="2" skipped="3" tests="20" time="4.5"></testsuite></testsuites>
"""
IMAGES = {"model": "m:1", "runner": "r:1", "postgres": "p:1"}


def plan(tier, **kwargs):
    return compose_tier_plan(Config(), "local-abc123", tier, IMAGES, postgres_password="s3cret-pw", **kwargs)


def test_all_means_every_tier_in_order():
    assert tiers_for("all") == ("host", "unit", "integration", "acceptance")
    assert tiers_for("integration") == ("integration",)


def test_unit_tier_writes_junit_and_coverage_reports():
    command = pytest_command("unit", "reports")
    assert command[:5] == ["python", "-m", "pytest", "tests/unit", "-p"]
    assert "--junitxml=reports/unit/junit.xml" in command
    assert "--cov-report=xml:reports/unit/coverage.xml" in command
    assert "--cov-report=html:reports/unit/coverage-html" in command
    assert "--cov=ci" in command and "--cov=model_app" in command


def test_the_host_tier_runs_in_parallel_processes_and_extra_arguments_come_last():
    command = pytest_command("host", "reports", ["-n", "0"])
    assert command[3:6] == ["tests/image", "tests/toolkit", "tests/deploy"]
    assert command[command.index("-n"):command.index("-n") + 5] == [
        "-n", str(HOST_WORKERS), "--dist", "loadscope", "--no-loadscope-reorder"]
    assert command[-2:] == ["-n", "0"]  # pytest takes the last -n: `ci test host -- -n 0` runs in one process
    assert "--cov=ci" in command
    assert parallel_options(1) == []
    assert not any(part in ("-n", "--dist") for part in pytest_command("unit", "reports"))


def test_only_a_tier_that_starts_postgresql_builds_its_image():
    assert tier_image_roles(("host",)) == ()
    assert tier_image_roles(("unit",)) == ("runner",)
    assert tier_image_roles(("acceptance",), external=True) == ("runner",)  # a deploy's smoke test
    assert tier_image_roles(("acceptance",)) == ("runner", "postgres")
    assert tier_image_roles(("host", "unit", "integration", "acceptance")) == ("runner", "postgres")


def test_integration_covers_the_service_and_acceptance_has_no_coverage():
    assert "--cov=model_app" in pytest_command("integration", "reports")
    assert not any(part.startswith("--cov") for part in pytest_command("acceptance", "reports", ["-m", "smoke"]))
    assert pytest_command("acceptance", "reports", ["-m", "smoke"])[-2:] == ["-m", "smoke"]


def test_junit_counts_are_read(tmp_path):
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT)
    result = read_junit("unit", path)
    assert (result.passed, result.failed, result.errors, result.skipped) == (14, 2, 1, 3)
    assert result.line() == "unit: 14 passed, 3 failed, 3 skipped in 4.5s"


def test_project_names_are_unique_per_run_and_tier_and_valid_for_compose():
    assert compose_project_name("ml-model-service", "local-abc123", "unit") == "ml-model-service-local-abc123-unit"
    assert compose_project_name("ML.Service", "jenkins-Team/Job-main-7", "integration") == (
        "ml-service-jenkins-team-job-main-7-integration")
    assert plan("unit").project != compose_tier_plan(Config(), "local-zzz999", "unit", IMAGES, "x").project


def test_unit_tier_runs_the_runner_alone():
    unit = plan("unit")
    assert unit.services == ()
    assert unit.run_command()[:7] == ["-f", "docker-compose.ci.yml", "-p", unit.project, "run", "--name",
                                      f"{unit.project}-runner"]
    assert "--no-deps" in unit.run_command()


def test_integration_tier_waits_for_healthy_services_first():
    integration = plan("integration")
    assert integration.up_command()[-6:] == ["--detach", "--wait", "--wait-timeout", "120", "postgres", "model"]
    assert "--no-deps" not in integration.run_command()
    assert integration.environment["MODEL_IMAGE"] == "m:1"
    assert integration.down_command()[-5:] == ["down", "--volumes", "--remove-orphans", "--timeout", "10"]


def test_acceptance_against_a_running_release_uses_the_external_runner_only():
    external = plan("acceptance", base_url="http://127.0.0.1:9000", baseline_url="http://127.0.0.1:9001")
    assert external.services == ()
    assert external.runner_service == "runner-external"
    assert external.environment["MODEL_URL"] == "http://127.0.0.1:9000"
    assert external.environment["BASELINE_URL"] == "http://127.0.0.1:9001"


def test_gates_and_forced_failure_reach_the_runner():
    acceptance = plan("acceptance", force_failure=True)
    assert '"latency_p95_ms": 25.0' in acceptance.environment["ACCEPTANCE_GATES"]
    assert acceptance.environment["FORCE_TEST_FAILURE"] == "1"
    assert plan("unit").environment["FORCE_TEST_FAILURE"] == ""


def test_the_database_password_is_a_secret_that_output_never_shows():
    unit = plan("unit")
    assert unit.secrets == ("s3cret-pw",)
    assert redact("connecting with s3cret-pw to postgres", unit.secrets) == f"connecting with {MASK} to postgres"
    assert "s3cret-pw" not in " ".join(unit.run_command() + unit.up_command() + unit.down_command())


def test_cleanup_under_jenkins_touches_only_this_build():
    assert project_prefix("ml-model-service", "jenkins-ml-main-42", under_jenkins=True) == (
        "ml-model-service-jenkins-ml-main-42-")
    assert project_prefix("ml-model-service", "local-abc", under_jenkins=False) == "ml-model-service-local-"


def test_repository_compose_file_exists():
    assert (Path(__file__).resolve().parents[3] / Config().test.compose_file).is_file()


def test_a_deploys_smoke_run_reports_apart_so_the_acceptance_gates_survive_it():
    smoke = plan("acceptance", base_url="http://127.0.0.1:8088", report_name="smoke", extra=["-m", "smoke"])
    assert smoke.report_name == "smoke" and smoke.reports_in_container.endswith("/reports/smoke")
    assert "--junitxml=reports/smoke/junit.xml" in smoke.pytest
    assert not any("reports/acceptance" in argument for argument in smoke.pytest)
    assert plan("acceptance").report_name == "acceptance"
