"""Run external programs: captured for facts, streamed line by line for long work, or detached from a Jenkins build."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
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


# ── surviving a Jenkins abort ────────────────────────────────────────────────────────────────────────────────
# How Jenkins kills a build's processes: DurableTaskStep.Execution.stop (jenkinsci/workflow-durable-task-step-plugin:
# src/main/java/org/jenkinsci/plugins/workflow/steps/durable_task/DurableTaskStep.java) calls the shell
# controller's stop, which is launcher.kill({JENKINS_SERVER_COOKIE: durable-<sha256 of the workspace path>})
# (jenkinsci/durable-task-plugin: src/main/java/org/jenkinsci/plugins/durabletask/FileMonitoringTask.java,
# FileMonitoringController.stop; BourneShellScript sets the variable for the script), and fails the step after
# REMOTE_TIMEOUT (20 s) whether or not the process stopped. When the node block ends, ExecutorStepExecution
# (same plugin, PlaceholderTask finish) kills {JENKINS_NODE_COOKIE: <uuid>} the same way. Launcher.kill ends in
# ProcessTree.killAll (jenkinsci/jenkins: core/src/main/java/hudson/util/ProcessTree.java): every process whose
# /proc/<pid>/environ holds the variable, and every descendant of one (children by PPid, whatever their
# environment), gets SIGTERM (ProcessHandle.destroy), up to SoftKillWaitSeconds (5 s) to vanish, then the
# ProcessKiller extensions. A worker that must finish (a deploy's rollback, its record) therefore needs an
# environment without either variable AND a parent chain without any process that has one: it is started by a
# launcher that exits at once (the worker is re-parented away from the build) in a session of its own.
JENKINS_KILL_VARIABLES = ("JENKINS_SERVER_COOKIE", "JENKINS_NODE_COOKIE")
STATUS_POLL_SECONDS = 0.2
# The launcher: fork a waiter and exit; the waiter starts the worker (stdout/stderr: ours, the build's log), reports
# its pid on the pipe it was given, waits, and records the exit code for whoever still waits for it.
_LAUNCHER = """
import os, subprocess, sys
pid_pipe, status, argv = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
if os.fork():
    os._exit(0)
worker = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
os.write(pid_pipe, f"{worker.pid}\\n".encode())
os.close(pid_pipe)
code = worker.wait()
with open(status + ".tmp", "w") as handle:
    handle.write(str(code if code >= 0 else 128 - code))
os.replace(status + ".tmp", status)
"""


def under_build_killer(environ: dict[str, str]) -> bool:
    """Whether Jenkins would kill this process (and its children) when the build is aborted."""
    return any(name in environ for name in JENKINS_KILL_VARIABLES)


def detached_environment(environ: dict[str, str]) -> dict[str, str]:
    """The environment minus the variables Jenkins finds its build's processes by (SSH masters started later, too)."""
    return {name: value for name, value in environ.items() if name not in JENKINS_KILL_VARIABLES}


def launcher_command(pid_pipe: int, status_file: Path, argv: Sequence[str]) -> list[str]:
    return [sys.executable, "-c", _LAUNCHER, str(pid_pipe), str(status_file), *argv]


def run_detached(argv: Sequence[str], cwd: Path, environ: dict[str, str]) -> int:
    """Run argv outside the build's process tree and wait for it; SIGTERM/SIGINT are forwarded to it, and if this
    process is killed the worker still finishes on its own. Returns its exit code."""
    status_dir = Path(tempfile.mkdtemp(prefix="mlci-detached-"))
    status_file = status_dir / "exit-code"
    read_end, write_end = os.pipe()
    try:
        launcher = subprocess.Popen(launcher_command(write_end, status_file, argv), cwd=cwd,
                                    env=detached_environment(environ), stdin=subprocess.DEVNULL,
                                    pass_fds=(write_end,), start_new_session=True)
    finally:
        os.close(write_end)
    with os.fdopen(read_end) as pids:
        pid_line = pids.readline().strip()
    launcher.wait()
    if not pid_line.isdigit():
        shutil.rmtree(status_dir, ignore_errors=True)
        raise CannotRun(f"could not start '{' '.join(argv)}' outside the build's process tree")
    worker = int(pid_line)

    def forward(signum, frame):
        # The worker does its own cleanup on SIGTERM/SIGINT (a deploy rolls back); this process only waits for it.
        try:
            os.kill(worker, signum)
        except ProcessLookupError:
            pass

    previous = {signum: signal.signal(signum, forward) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        while not status_file.exists():
            if not _alive(worker):
                # Gone: its waiter records the exit code at once, unless something killed the waiter too.
                time.sleep(1)
                if not status_file.exists():
                    raise CannotRun(f"'{' '.join(argv)}' (pid {worker}) ended without recording its exit code")
            time.sleep(STATUS_POLL_SECONDS)
        return int(status_file.read_text())
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        shutil.rmtree(status_dir, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
