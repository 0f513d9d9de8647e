"""The plan for a test tier as plain data: where it runs, the compose project and commands, its reports."""

import json
import sys
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

from ci.build_plan import POSTGRES, RUNNER
from ci.config import Config, GatesConfig
from ci.identity import slug

COMPOSE_TIERS = ("unit", "integration", "acceptance")
HOST_TIER = "host"
TIERS = (HOST_TIER, *COMPOSE_TIERS)
# Tiers whose code under test runs inside the test process (or its subprocesses), so coverage means something.
COVERAGE_TIERS = ("host", "unit", "integration")
TIER_PATHS = {
    # The toolkit's own unit tests (tests/unit/ci) run once, in the unit tier: they need nothing of the host.
    "host": ("tests/image", "tests/toolkit", "tests/deploy"),
    "unit": ("tests/unit",),
    "integration": ("tests/integration",),
    "acceptance": ("tests/acceptance",),
}
COVERED_PACKAGES = {"host": ("ci",), "unit": ("ci", "model_app"), "integration": ("model_app",)}
# The host tier's tests mostly wait (SSH round trips, health checks, drains, engines starting), so this many pytest
# processes share the machine's 2 cores (pytest-xdist; tests/conftest.py says which tests run apart from which).
# `ci test host -- -n 0` runs them in one process.
HOST_WORKERS = 3
RUNNER_WORKDIR = "/work"
# The stack's services each tier needs; the unit tier runs the runner alone.
SERVICES = {"unit": (), "integration": ("postgres", "model"), "acceptance": ("postgres", "model")}


@dataclass(frozen=True)
class TierResult:
    tier: str
    passed: int
    failed: int
    errors: int
    skipped: int
    seconds: float

    def line(self) -> str:
        return (f"{self.tier}: {self.passed} passed, {self.failed + self.errors} failed, "
                f"{self.skipped} skipped in {self.seconds:.1f}s")


@dataclass(frozen=True)
class ComposeTierPlan:
    """Everything `ci test <tier>` does in the compose stack, before anything runs."""

    tier: str
    project: str
    compose_file: str
    environment: dict[str, str]
    services: tuple[str, ...]
    runner_service: str
    runner_container: str
    pytest: list[str]
    timeout_seconds: int
    service_timeout_seconds: int
    secrets: tuple[str, ...] = field(default_factory=tuple)
    # The directory under reports/ (the tier's name, or "smoke" so a deploy's smoke test keeps the gates).
    report_name: str = ""

    def compose(self, *args: str) -> list[str]:
        return ["-f", self.compose_file, "-p", self.project, *args]

    def up_command(self) -> list[str]:
        return self.compose("up", "--detach", "--wait", "--wait-timeout", str(self.service_timeout_seconds),
                            *self.services)

    def run_command(self) -> list[str]:
        no_deps = ["--no-deps"] if not self.services else []
        return self.compose("run", "--name", self.runner_container, *no_deps, self.runner_service, *self.pytest)

    def down_command(self) -> list[str]:
        return self.compose("down", "--volumes", "--remove-orphans", "--timeout", "10")

    def logs_command(self, service: str) -> list[str]:
        return self.compose("logs", "--no-color", "--timestamps", service)

    @property
    def reports_in_container(self) -> str:
        return f"{RUNNER_WORKDIR}/reports/{self.report_name or self.tier}"


def tiers_for(selection: str) -> tuple[str, ...]:
    return TIERS if selection == "all" else (selection,)


def tier_image_roles(tiers: tuple[str, ...], external: bool = False) -> tuple[str, ...]:
    """The images of this work tree the tiers run: the runner for a compose tier, PostgreSQL only for a tier that starts
    it (a deploy's smoke test, against a release outside the stack, builds no PostgreSQL image)."""
    compose = [tier for tier in tiers if tier in COMPOSE_TIERS]
    if not compose:
        return ()
    starts_postgres = not external and any("postgres" in SERVICES[tier] for tier in compose)
    return (RUNNER, POSTGRES) if starts_postgres else (RUNNER,)


def compose_project_name(project: str, run_id: str, tier: str) -> str:
    """Unique per build and tier; Compose allows lower-case letters, digits, '-' and '_' only."""
    return slug(f"{project}-{run_id}-{tier}", max_length=80).replace(".", "-")


def pytest_command(tier: str, reports_dir: str, extra: list[str] | None = None, python: str = "python",
                   report_name: str = "") -> list[str]:
    """The pytest invocation for a tier; paths are relative to the repository (or the runner's /work)."""
    name = report_name or tier
    command = [
        python, "-m", "pytest", *TIER_PATHS[tier], "-p", "no:cacheprovider", "-q", "-rfEs",
        f"--junitxml={reports_dir}/{name}/junit.xml", "-o", f"junit_suite_name={name}",
    ]
    if tier == HOST_TIER:
        command += parallel_options(HOST_WORKERS)
    if tier in COVERAGE_TIERS:
        command += [f"--cov={package}" for package in COVERED_PACKAGES[tier]]
        command += [f"--cov-report=xml:{reports_dir}/{tier}/coverage.xml",
                    f"--cov-report=html:{reports_dir}/{tier}/coverage-html", "--cov-report=term:skip-covered"]
    return command + list(extra or [])


def parallel_options(workers: int) -> list[str]:
    """Tests spread over `workers` processes in units of work (tests/conftest.py), handed out in collection order."""
    return ["-n", str(workers), "--dist", "loadscope", "--no-loadscope-reorder"] if workers > 1 else []


def host_pytest_command(extra: list[str] | None = None) -> list[str]:
    return pytest_command(HOST_TIER, "reports", extra, python=sys.executable)


def gates_environment(gates: GatesConfig) -> str:
    return json.dumps(gates.__dict__, sort_keys=True)


def compose_tier_plan(config: Config, run_id: str, tier: str, images: dict[str, str], postgres_password: str,
                      base_url: str = "", baseline_url: str = "", force_failure: bool = False,
                      extra: list[str] | None = None, report_name: str = "") -> ComposeTierPlan:
    project = compose_project_name(config.project.name, run_id, tier)
    external = bool(base_url)
    environment = {
        "MODEL_IMAGE": images["model"],
        "RUNNER_IMAGE": images["runner"],
        "POSTGRES_IMAGE": images["postgres"],
        "POSTGRES_PASSWORD": postgres_password,
        "ACCEPTANCE_GATES": gates_environment(config.gates),
        "BASELINE_URL": baseline_url,
        "MODEL_URL": base_url,
        "FORCE_TEST_FAILURE": "1" if force_failure else "",
        "COMPOSE_PROFILES": "external" if external else "",
    }
    return ComposeTierPlan(
        tier=tier, project=project, compose_file=config.test.compose_file, environment=environment,
        services=() if external else SERVICES[tier],
        runner_service="runner-external" if external else "runner",
        runner_container=f"{project}-runner",
        pytest=pytest_command(tier, "reports", extra, report_name=report_name),
        timeout_seconds=config.test.tier_timeout_seconds,
        service_timeout_seconds=config.test.service_timeout_seconds,
        secrets=(postgres_password,),
        report_name=report_name or tier,
    )


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
