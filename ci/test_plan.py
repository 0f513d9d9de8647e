"""The plan for a test tier as plain data: the pytest command, its reports, and how to read the results."""

import sys
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

TIERS = ("unit", "integration")
COVERED_PACKAGES = ("ci", "model_app")
# Tiers whose code under test runs in the test process, so that coverage means something.
COVERAGE_TIERS = ("unit",)


@dataclass(frozen=True)
class TierResult:
    tier: str
    passed: int
    failed: int
    errors: int
    skipped: int
    seconds: float

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.errors + self.skipped

    def line(self) -> str:
        return (f"{self.tier}: {self.passed} passed, {self.failed + self.errors} failed, "
                f"{self.skipped} skipped in {self.seconds:.1f}s")


def tiers_for(selection: str) -> tuple[str, ...]:
    return TIERS if selection == "all" else (selection,)


def pytest_command(tier: str, reports_dir: Path, extra: list[str] | None = None) -> list[str]:
    tier_reports = reports_dir / tier
    command = [
        sys.executable, "-m", "pytest", f"tests/{tier}", "-p", "no:cacheprovider", "-q", "-rfEs",
        f"--junitxml={tier_reports / 'junit.xml'}", "-o", f"junit_suite_name={tier}",
    ]
    if tier in COVERAGE_TIERS:
        command += [f"--cov={package}" for package in COVERED_PACKAGES]
        command += [f"--cov-report=xml:{tier_reports / 'coverage.xml'}",
                    f"--cov-report=html:{tier_reports / 'coverage-html'}", "--cov-report=term:skip-covered"]
    return command + list(extra or [])


def read_junit(tier: str, junit_path: Path) -> TierResult:
    root = ElementTree.parse(junit_path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    seconds = 0.0
    for suite in suites:
        for key in counts:
            counts[key] += int(suite.get(key, 0))
        seconds += float(suite.get("time", 0))
    passed = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    return TierResult(tier, passed, counts["failures"], counts["errors"], counts["skipped"], seconds)
