"""Which runs still have a detached deploy worker running: the records its waiter keeps while it runs.

Where: in the workspace's temporary sibling `<workspace>@tmp` that Jenkins names in WORKSPACE_TMP (jenkinsci/
workflow-durable-task-step-plugin: src/main/java/org/jenkinsci/plugins/workflow/support/steps/
ExecutorStepExecution.java, PlaceholderTask, `env.put("WORKSPACE_TMP", tempDir.getRemote())` with
jenkinsci/jenkins: core/src/main/java/hudson/slaves/WorkspaceList.java tempDir; the same in core's
AbstractBuild.getEnvironment), else (locally, or a Jenkins that sets none) under build/. Not reports/: `ci new-run`
empties it while an aborted build's worker may still roll back. Not only build/: git-plugin's "Clean before/after
checkout" behaviours run `git clean -fdx` in the work tree (CleanBeforeCheckoutTrait/CleanAfterCheckoutTrait,
CleanCheckout, then git-client CliGitAPIImpl.clean), which deletes the git-ignored build/; the @tmp sibling is
outside the work tree.
"""

import json
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ci.identity import slug

WORKERS_DIR = "build/detached-workers"
WORKSPACE_TMP_WORKERS_DIR = "mlci-detached-workers"
# Every secret-copies directory is named so; no directory a record names is removed unless it is one.
SECRETS_DIR_PREFIX = "mlci-worker-secrets-"


@dataclass(frozen=True)
class WorkerRecord:
    path: Path
    pid: int
    start_time: int | None
    run: str
    command: str
    waiter_pid: int | None = None
    waiter_start_time: int | None = None
    secrets_dir: str | None = None


def workers_dir(root: Path, environ: dict[str, str]) -> Path:
    """The directory of the records: $WORKSPACE_TMP/mlci-detached-workers under Jenkins, else build/."""
    workspace_tmp = environ.get("WORKSPACE_TMP")
    return Path(workspace_tmp) / WORKSPACE_TMP_WORKERS_DIR if workspace_tmp else root / WORKERS_DIR


def record_path(root: Path, environ: dict[str, str], run_id: str, command: str) -> Path:
    """One file per worker (the waiter writes it and removes it when the worker ends)."""
    return workers_dir(root, environ) / f"{slug(run_id)}-{command}-{secrets.token_hex(3)}.json"


def record_facts(run_id: str, command: str) -> dict:
    """What the waiter writes beside the worker's and its own pid and start time and the secret copies' directory."""
    return {"run": run_id, "command": command}


def read_records(root: Path, environ: dict[str, str]) -> list[WorkerRecord]:
    """Every record; one half written or unreadable is skipped (the waiter writes them atomically)."""
    records = []
    for path in sorted(workers_dir(root, environ).glob("*.json")):
        try:
            data = json.loads(path.read_text())
            records.append(WorkerRecord(path, int(data["pid"]), data.get("start_time"), str(data["run"]),
                                        str(data.get("command", "?")), data.get("waiter_pid"),
                                        data.get("waiter_start_time"), data.get("secrets_dir")))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return records


def split_live(records: list[WorkerRecord],
               still_running: Callable[[int, int], bool]) -> tuple[list[WorkerRecord], list[WorkerRecord]]:
    """(live, gone): still_running(pid, start_time) tells a live worker from an ended one or a reused pid."""
    live = [record for record in records if record.start_time is not None
            and still_running(record.pid, record.start_time)]
    return live, [record for record in records if record not in live]


def abandoned(records: list[WorkerRecord], still_running: Callable[[int, int], bool]) -> list[WorkerRecord]:
    """The records whose worker AND waiter are gone: the waiter was killed (SIGKILL: it ignores the rest) before it
    removed the copies and the record. While either runs, the waiter still removes them (or the worker needs them)."""
    _, gone = split_live(records, still_running)
    return [record for record in gone if record.waiter_pid is None or record.waiter_start_time is None
            or not still_running(record.waiter_pid, record.waiter_start_time)]


def remove_abandoned(records: list[WorkerRecord], still_running: Callable[[int, int], bool]) -> list[WorkerRecord]:
    """Remove each abandoned record and the secret copies it names (only a directory named as run_detached names
    them: a record is a file anyone with the workspace can write); returns those removed."""
    removed = abandoned(records, still_running)
    for record in removed:
        if record.secrets_dir and Path(record.secrets_dir).name.startswith(SECRETS_DIR_PREFIX):
            shutil.rmtree(record.secrets_dir, ignore_errors=True)
        record.path.unlink(missing_ok=True)
    return removed
