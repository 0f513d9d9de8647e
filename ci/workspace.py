"""A copy of the repository's working files in another directory: what benchmarks and end-to-end tests run in,
so that their reports, builds and edits never touch the developer's work tree."""

import shutil
from pathlib import Path

from ci.context import REPOSITORY_ROOT

WORKSPACE_PARTS = ("ci", "model_app", "tests", "benchmarks", "requirements", "docker", "Dockerfile", ".dockerignore",
                   "docker-compose.ci.yml", "ci.toml", "pytest.ini", ".flake8", ".coveragerc", "Jenkinsfile",
                   ".groovylintrc.json")


def copy_workspace(destination: Path, with_build_report: bool = False, source: Path = REPOSITORY_ROOT) -> Path:
    """Copy the working files (no .git, no caches, no reports) and, when asked, the last build's report."""
    destination.mkdir(parents=True, exist_ok=True)
    for part in WORKSPACE_PARTS:
        origin = source / part
        if origin.is_dir():
            shutil.copytree(origin, destination / part, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif origin.exists():
            shutil.copy2(origin, destination / part)
    if with_build_report:
        (destination / "reports").mkdir(exist_ok=True)
        shutil.copy2(source / "reports" / "build.json", destination / "reports" / "build.json")
        # The copy continues the run that build belongs to (ci/reports.py): its deploy must not see it as stale.
        if (source / "reports" / "run.json").exists():
            shutil.copy2(source / "reports" / "run.json", destination / "reports" / "run.json")
    return destination
