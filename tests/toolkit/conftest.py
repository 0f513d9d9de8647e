"""End-to-end checks of `python -m ci` commands against the real engine, each run in its own copy of the
repository (so that concurrent runs have separate reports/ directories, as separate Jenkins workspaces do)."""

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from ci.errors import CannotRun
from ci.executor.groovy import JenkinsfileChecks
from ci.workspace import copy_workspace

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_PROJECT_LABEL = "com.docker.compose.project"


@pytest.fixture(scope="session")
def engine():
    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except Exception as error:  # the tier must fail, not skip, without an engine
        pytest.fail(f"these checks need a Docker engine: {error}", pytrace=False)
    return client


@pytest.fixture(scope="session")
def jenkinsfile_check() -> Iterator[Callable[[Path, str], subprocess.CompletedProcess]]:
    """check(path, mode): a Jenkinsfile check (syntax, structure or model-json), answered by one JVM for the whole
    session, started by the first check (a JVM per check took most of these tests' time)."""
    checks = JenkinsfileChecks()

    def check(path: Path, mode: str) -> subprocess.CompletedProcess:
        try:
            return checks.check(path, mode)
        except CannotRun as error:  # the check must fail, not skip, where groovy is missing
            pytest.fail(str(error), pytrace=False)

    yield check
    checks.close()


@pytest.fixture
def repository_copy(tmp_path_factory):
    def make() -> Path:
        if not (REPOSITORY_ROOT / "reports" / "build.json").exists():
            pytest.fail("reports/build.json is missing: run `python -m ci build` first", pytrace=False)
        return copy_workspace(tmp_path_factory.mktemp("repo"), with_build_report=True)

    return make


def ci_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "ci", *args]


def lines_until(process: subprocess.Popen, marker: str) -> list[str]:
    """The process's output lines up to and including the first that contains marker (a stage under way)."""
    seen = []
    for line in process.stdout:
        seen.append(line)
        if marker in line:
            break
    return seen


def run_ci(copy: Path, *args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(ci_command(*args), cwd=copy, env=env, capture_output=True, text=True, timeout=timeout)


def stack_resources(client, project_prefix: str) -> dict[str, list[str]]:
    """Containers, networks and volumes of compose projects whose name starts with project_prefix."""
    def ours(labels):
        return (labels or {}).get(COMPOSE_PROJECT_LABEL, "").startswith(project_prefix)

    return {
        # ignore_removed: another process of the tier may remove its containers between the list and the inspect.
        "containers": [c.name for c in client.containers.list(all=True, ignore_removed=True) if ours(c.labels)],
        "networks": [n.name for n in client.networks.list() if ours(n.attrs.get("Labels"))],
        "volumes": [v.name for v in client.volumes.list() if ours(v.attrs.get("Labels"))],
    }
