"""Which runs still have a detached deploy worker running: the records its waiter keeps under build/ while it runs.

Under build/, not reports/: `ci new-run` empties reports/ (the next build in this workspace may start while an
aborted build's worker still rolls back), and nothing of ours or of `checkout scm` wipes the git-ignored build/.
"""

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ci.identity import slug

WORKERS_DIR = "build/detached-workers"


@dataclass(frozen=True)
class WorkerRecord:
    path: Path
    pid: int
    start_time: int | None
    run: str
    command: str


def record_path(root: Path, run_id: str, command: str) -> Path:
    """One file per worker (the waiter writes it and removes it when the worker ends)."""
    return root / WORKERS_DIR / f"{slug(run_id)}-{command}-{secrets.token_hex(3)}.json"


def record_facts(run_id: str, command: str) -> dict:
    """What the waiter writes beside the worker's pid and start time."""
    return {"run": run_id, "command": command}


def read_records(root: Path) -> list[WorkerRecord]:
    """Every record; one half written or unreadable is skipped (the waiter writes them atomically)."""
    records = []
    for path in sorted((root / WORKERS_DIR).glob("*.json")):
        try:
            data = json.loads(path.read_text())
            records.append(WorkerRecord(path, int(data["pid"]), data.get("start_time"), str(data["run"]),
                                        str(data.get("command", "?"))))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return records


def split_live(records: list[WorkerRecord],
               still_running: Callable[[int, int], bool]) -> tuple[list[WorkerRecord], list[WorkerRecord]]:
    """(live, gone): still_running(pid, start_time) tells a live worker from an ended one or a reused pid."""
    live = [record for record in records if record.start_time is not None
            and still_running(record.pid, record.start_time)]
    return live, [record for record in records if record not in live]
