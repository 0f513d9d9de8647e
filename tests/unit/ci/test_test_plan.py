from pathlib import Path

from ci.test_plan import pytest_command, read_junit, tiers_for

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="unit" errors="1" failures="2" skipped="3" tests="20" time="4.5"></testsuite></testsuites>
"""


def test_all_means_every_tier_in_order():
    assert tiers_for("all") == ("unit", "integration")
    assert tiers_for("integration") == ("integration",)


def test_unit_tier_writes_junit_and_coverage_reports():
    command = pytest_command("unit", Path("reports"))
    assert "tests/unit" in command
    assert "--junitxml=reports/unit/junit.xml" in command
    assert "--cov-report=xml:reports/unit/coverage.xml" in command
    assert "--cov-report=html:reports/unit/coverage-html" in command
    assert "--cov=ci" in command and "--cov=model_app" in command


def test_integration_tier_has_junit_but_no_host_coverage():
    command = pytest_command("integration", Path("reports"), ["-k", "ready"])
    assert "--junitxml=reports/integration/junit.xml" in command
    assert not any(part.startswith("--cov") for part in command)
    assert command[-2:] == ["-k", "ready"]


def test_junit_counts_are_read(tmp_path):
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT)
    result = read_junit("unit", path)
    assert (result.passed, result.failed, result.errors, result.skipped) == (14, 2, 1, 3)
    assert result.seconds == 4.5
    assert result.line() == "unit: 14 passed, 3 failed, 3 skipped in 4.5s"
