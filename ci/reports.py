"""What a machine reads: files under reports/ (the directory Jenkins archives), each stamped with the run it came from.

A run is one pass of the pipeline: one Jenkins build (its BUILD_TAG) or one local `ci pipeline`/`ci new-run`.
reports/run.json records the current run; every JSON report carries a "run" field; a test tier's directory
(JUnit, Cobertura, gates, HTML coverage: files pytest writes inside a container) is vouched for by the
stamp.json written beside them once the tier has run. A report whose run is not the current one is stale:
`ci report` flags it, `ci evidence` lists it as a blocker, `ci approve` refuses it.
"""

import json
import secrets
import shutil
from datetime import datetime, timezone
from pathlib import Path

REPORTS_DIR = "reports"
RUN_FILE = "run.json"
RUN_FIELD = "run"
# One per test-tier directory: the run that wrote the files pytest left there.
TIER_STAMP = "stamp.json"
# Set by the local `ci pipeline` for its stages, so that every stage of one pipeline writes the same run.
RUN_ID_VARIABLE = "CI_RUN_ID"
LOCAL_RUN_PREFIX = "local"


def report_path(root: Path, relative: str) -> Path:
    path = root / REPORTS_DIR / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_json_report(root: Path, relative: str, data: dict, run: str) -> Path:
    """Write a JSON report stamped with its run (the "run" field; the caller's dict is left as it was)."""
    path = report_path(root, relative)
    path.write_text(json.dumps({**data, RUN_FIELD: run}, indent=2, sort_keys=True, default=str) + "\n")
    return path


def read_json_report(root: Path, relative: str) -> dict | None:
    path = root / REPORTS_DIR / relative
    if not path.exists():
        return None
    return json.loads(path.read_text())


# ── runs ─────────────────────────────────────────────────────────────────────────────────────────────────────

def new_run_id(environ: dict[str, str], now: datetime | None = None, suffix: str | None = None) -> str:
    """The id a new run gets: the Jenkins build's BUILD_TAG, else the one the local pipeline handed down, else a
    fresh local one (time first, so that ids sort by when the run began)."""
    given = environ.get("BUILD_TAG", "").strip() or environ.get(RUN_ID_VARIABLE, "").strip()
    if given:
        return given
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    return f"{LOCAL_RUN_PREFIX}-{stamp}-{suffix or secrets.token_hex(3)}"


def run_id_from(environ: dict[str, str], recorded: str | None) -> str | None:
    """The current run: BUILD_TAG under Jenkins, else CI_RUN_ID, else the run reports/run.json records."""
    return environ.get("BUILD_TAG", "").strip() or environ.get(RUN_ID_VARIABLE, "").strip() or recorded or None


def recorded_run(root: Path) -> str | None:
    record = read_json_report(root, RUN_FILE)
    return record.get(RUN_FIELD) if record else None


def current_run(root: Path, environ: dict[str, str]) -> str:
    """The run this command's reports belong to; a local command run on its own with no run recorded begins one."""
    run = run_id_from(environ, recorded_run(root))
    if run:
        return run
    run = new_run_id(environ)
    write_json_report(root, RUN_FILE, {"started": _now(), "begun_by": "a command run on its own"}, run)
    return run


def start_run(root: Path, run: str, facts: dict) -> Path:
    """Begin a run: reports/ is emptied (the workspace is reused, and reports/ is git-ignored) and run.json written."""
    shutil.rmtree(root / REPORTS_DIR, ignore_errors=True)
    return write_json_report(root, RUN_FILE, {"started": _now(), **facts}, run)


def stamp_tier(root: Path, directory: str, tier: str, run: str) -> Path:
    """Vouch for the files a tier left in reports/<directory>/ (written by pytest, which knows no run)."""
    files = sorted(str(path.relative_to(root / REPORTS_DIR / directory))
                   for path in (root / REPORTS_DIR / directory).rglob("*") if path.is_file())
    return write_json_report(root, f"{directory}/{TIER_STAMP}", {"tier": tier, "files": files}, run)


def tier_run(root: Path, directory: str) -> str | None:
    stamp = read_json_report(root, f"{directory}/{TIER_STAMP}")
    return stamp.get(RUN_FIELD) if stamp else None


def run_of(report: dict | None) -> str | None:
    return (report or {}).get(RUN_FIELD)


def stale_reports(runs: dict[str, str | None], run: str) -> list[str]:
    """One line per report present but recorded by another run (or by none); runs maps the report's path under
    reports/ to the run it records."""
    return [f"reports/{name} is from {'run ' + recorded if recorded else 'no recorded run'}, not this run ({run})"
            for name, recorded in runs.items() if recorded != run]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
