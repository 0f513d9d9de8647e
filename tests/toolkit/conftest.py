"""End-to-end checks of `python -m ci` commands against the real engine, each run in its own copy of the
repository (so that concurrent runs have separate reports/ directories, as separate Jenkins workspaces do)."""

import shutil
import subprocess
import sys
from pathlib import Path

import docker
import pytest

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
REPOSITORY_PARTS = ("ci", "model_app", "tests", "requirements", "docker", "Dockerfile", ".dockerignore",
                    "docker-compose.ci.yml", "ci.toml", "pytest.ini", ".flake8", ".coveragerc")
COMPOSE_PROJECT_LABEL = "com.docker.compose.project"


@pytest.fixture(scope="session")
def engine():
    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except Exception as error:  # the tier must fail, not skip, without an engine
        pytest.fail(f"these checks need a Docker engine: {error}", pytrace=False)
    return client


@pytest.fixture
def repository_copy(tmp_path_factory):
    def make() -> Path:
        copy = tmp_path_factory.mktemp("repo")
        for part in REPOSITORY_PARTS:
            source = REPOSITORY_ROOT / part
            if source.is_dir():
                shutil.copytree(source, copy / part, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(source, copy / part)
        build_report = REPOSITORY_ROOT / "reports" / "build.json"
        if not build_report.exists():
            pytest.fail("reports/build.json is missing: run `python -m ci build` first", pytrace=False)
        (copy / "reports").mkdir()
        shutil.copy2(build_report, copy / "reports" / "build.json")
        return copy

    return make


def ci_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "ci", *args]


def run_ci(copy: Path, *args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(ci_command(*args), cwd=copy, env=env, capture_output=True, text=True, timeout=timeout)


def stack_resources(client, project_prefix: str) -> dict[str, list[str]]:
    """Containers, networks and volumes of compose projects whose name starts with project_prefix."""
    def ours(labels):
        return (labels or {}).get(COMPOSE_PROJECT_LABEL, "").startswith(project_prefix)

    return {
        "containers": [c.name for c in client.containers.list(all=True) if ours(c.labels)],
        "networks": [n.name for n in client.networks.list() if ours(n.attrs.get("Labels"))],
        "volumes": [v.name for v in client.volumes.list() if ours(v.attrs.get("Labels"))],
    }
