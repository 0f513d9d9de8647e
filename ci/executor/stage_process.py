"""Run one pipeline stage command as its own process: output to the stage's log, progress to a callback."""

import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path


def run_logged(argv: Sequence[str], log_path: Path, cwd: Path, env: dict[str, str],
               on_line: Callable[[str], None], on_tick: Callable[[], None], tick_seconds: float = 0.5) -> int:
    """Run with stdout and stderr into log_path (appended) and each line to on_line; on_tick while it runs.

    The child gets its own session so a Ctrl-C reaches it exactly once, forwarded by us; we then wait for it,
    because it cleans up what it started (compose stacks, deploy locks) before it exits.
    """
    with log_path.open("a", encoding="utf-8") as log:
        child = subprocess.Popen(list(argv), cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, text=True, bufsize=1, start_new_session=True,
                                 errors="replace")
        reader = threading.Thread(target=_copy_lines, args=(child, log, on_line), daemon=True)
        reader.start()
        try:
            while child.poll() is None:
                on_tick()
                time.sleep(tick_seconds)
        except KeyboardInterrupt:
            child.send_signal(signal.SIGINT)
            child.wait()
            reader.join(timeout=5)
            raise
        reader.join(timeout=5)
        return child.returncode


def run_attached(argv: Sequence[str], cwd: Path, env: dict[str, str]) -> int:
    """Run on this terminal (a stage that asks a person something); Ctrl-C reaches it directly."""
    child = subprocess.Popen(list(argv), cwd=cwd, env=env)
    try:
        return child.wait()
    except KeyboardInterrupt:
        child.wait()
        raise


def _copy_lines(child: subprocess.Popen, log, on_line: Callable[[str], None]) -> None:
    for line in child.stdout:
        log.write(line)
        log.flush()
        on_line(line.rstrip("\n"))
