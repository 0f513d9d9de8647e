"""What a person reads: progress lines while work runs, and one summary line when a command ends."""

import sys
import time

_STATUS_MARK = {"ok": "PASS", "failed": "FAIL", "error": "ERROR", "skipped": "SKIP", "interrupted": "STOP"}


def progress(message: str) -> None:
    print(f"  … {message}", file=sys.stderr, flush=True)


def info(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def summary_line(command: str, status: str, seconds: float, detail: str) -> str:
    mark = _STATUS_MARK.get(status, status.upper())
    return f"[{mark}] ci {command}: {detail} ({seconds:.1f}s)"


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.monotonic()

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started
