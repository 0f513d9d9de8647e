"""Run external programs: captured for facts, streamed line by line for long work."""

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ci.errors import CannotRun


def capture(argv: Sequence[str], cwd: Path | None = None, timeout: float = 60,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run and capture output; a missing program is a CannotRun naming it."""
    try:
        return subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              env=env, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise CannotRun(f"'{argv[0]}' is not installed or not on PATH") from None
    except subprocess.TimeoutExpired:
        raise CannotRun(f"'{' '.join(argv)}' did not finish within {timeout:.0f}s") from None


def stream(argv: Sequence[str], on_line: Callable[[str], None], cwd: Path | None = None,
           env: dict[str, str] | None = None, kill_when: Callable[[], bool] | None = None) -> int:
    """Run with output merged and handed over line by line; returns the exit code.

    On Ctrl-C the child (which shares our process group) gets the same SIGINT; we wait for it
    so that nothing outlives the command. kill_when, checked every second, ends the child early
    (a timeout), after which TimeoutError is raised.
    """
    try:
        child = subprocess.Popen(list(argv), cwd=cwd, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, bufsize=1)
    except FileNotFoundError:
        raise CannotRun(f"'{argv[0]}' is not installed or not on PATH") from None
    watchdog = None
    if kill_when is not None:
        watchdog = threading.Thread(target=_kill_when, args=(child, kill_when), daemon=True)
        watchdog.start()
    try:
        for line in child.stdout:
            on_line(line.rstrip("\n"))
        exit_code = child.wait()
    except KeyboardInterrupt:
        child.wait()
        raise
    if kill_when is not None and kill_when():
        raise TimeoutError(f"'{argv[0]}' was stopped at its time limit")
    return exit_code


def _kill_when(child: subprocess.Popen, condition: Callable[[], bool]) -> None:
    while child.poll() is None:
        if condition():
            child.kill()
            return
        time.sleep(1)


def which(program: str) -> str | None:
    return shutil.which(program)


def is_root() -> bool:
    return os.geteuid() == 0
