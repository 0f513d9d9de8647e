"""Run external programs: captured for facts, streamed line by line for long work."""

import os
import shutil
import subprocess
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
           env: dict[str, str] | None = None) -> int:
    """Run with output merged and handed over line by line; returns the exit code.

    On Ctrl-C the child (which shares our process group) gets the same SIGINT; we wait for it
    so that nothing outlives the command.
    """
    try:
        child = subprocess.Popen(list(argv), cwd=cwd, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, bufsize=1)
    except FileNotFoundError:
        raise CannotRun(f"'{argv[0]}' is not installed or not on PATH") from None
    try:
        for line in child.stdout:
            on_line(line.rstrip("\n"))
        return child.wait()
    except KeyboardInterrupt:
        child.wait()
        raise


def which(program: str) -> str | None:
    return shutil.which(program)


def is_root() -> bool:
    return os.geteuid() == 0
