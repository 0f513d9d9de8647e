"""Run external programs: captured for facts, streamed line by line for long work, or detached from a Jenkins build."""

import json
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

from ci.detached_workers import SECRETS_DIR_PREFIX
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


def run_cancellable(argv: Sequence[str], timeout: float, cancelled: Callable[[], bool],
                    grace_seconds: float = 15) -> subprocess.CompletedProcess:
    """Run and capture output; when cancelled() turns true or the time is up, the child gets SIGTERM (so that it
    cleans up what it started: `ci` turns SIGTERM into its Ctrl-C cleanup), then SIGKILL after grace_seconds.
    Raises CannotRun for the time limit, and when cancelled (the caller says why)."""
    try:
        # Its own session: a Ctrl-C reaches only the caller, which decides when to cancel this.
        child = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
    except FileNotFoundError:
        raise CannotRun(f"'{argv[0]}' is not installed or not on PATH") from None
    deadline = time.monotonic() + timeout
    stopped = ""
    while True:
        try:
            stdout, stderr = child.communicate(timeout=0.2)
            break
        except subprocess.TimeoutExpired:
            pass
        if not stopped and (cancelled() or time.monotonic() > deadline):
            stopped = "cancelled" if cancelled() else f"did not finish within {timeout:.0f}s"
            child.terminate()
            try:
                stdout, stderr = child.communicate(timeout=grace_seconds)
            except subprocess.TimeoutExpired:
                child.kill()
                stdout, stderr = child.communicate()
            break
    if stopped:
        raise CannotRun(f"`{' '.join(argv[1:4])}` {stopped}")
    return subprocess.CompletedProcess(list(argv), child.returncode, stdout, stderr)


class interrupts_call:
    """While active (main thread only), SIGINT and SIGTERM call on_signal(name) instead of raising KeyboardInterrupt:
    a deploy that was interrupted reaches a safe point and undoes, rather than dying mid-step."""

    def __init__(self, on_signal: Callable[[str], None]):
        self.on_signal = on_signal
        self._previous: dict[int, object] = {}

    def __enter__(self) -> "interrupts_call":
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum, frame) -> None:
        self.on_signal(signal.Signals(signum).name)


def kill_self() -> None:
    """SIGKILL this process: what a fault injection does to test that a killed deploy leaves a host serving."""
    os.kill(os.getpid(), signal.SIGKILL)


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
# The launcher: fork a waiter and exit; the waiter starts the worker (stdout/stderr: ours, the build's log), records
# it (pid and start time, its own, and the secret copies' directory, for `ci cleanup`), reports its pid on the pipe
# it was given, waits, removes the worker's secret copies and its record whatever the outcome, and records the exit
# code for whoever still waits for it. The waiter ignores SIGTERM/SIGINT/SIGHUP (the worker gets them, from the
# foreground, and restores their defaults before it runs): an operator's kill or an agent shutdown must not leave
# the copies behind. It never removes the copies while the worker runs: a record it cannot write, or a foreground
# already gone, is reported and the worker still waited for. Only SIGKILL stops it; then `ci cleanup` and the next
# detached run remove what the record names (ci/detached_workers.py abandoned).
_LAUNCHER = """
import json, os, shutil, signal, subprocess, sys
pid_pipe, status, secrets, record, facts, argv = int(sys.argv[1]), *sys.argv[2:6], sys.argv[6:]
if os.fork():
    os._exit(0)
SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
for signum in SIGNALS:
    signal.signal(signum, signal.SIG_IGN)


def defaults():
    for signum in SIGNALS:
        signal.signal(signum, signal.SIG_DFL)


def start_time(pid):
    # /proc/<pid>/stat field 22, as process_start_time reads it (this runs before any ci module is importable).
    return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[19])


code, worker = 127, None
try:
    worker = subprocess.Popen(argv, stdin=subprocess.DEVNULL, preexec_fn=defaults)
    if record:
        try:
            os.makedirs(os.path.dirname(record), exist_ok=True)
            with open(record + ".tmp", "w") as handle:
                json.dump({"pid": worker.pid, "start_time": start_time(worker.pid), "waiter_pid": os.getpid(),
                           "waiter_start_time": start_time(os.getpid()), "secrets_dir": secrets,
                           **json.loads(facts)}, handle)
            os.replace(record + ".tmp", record)
        except OSError as error:
            print(f"warning: could not record the detached worker (pid {worker.pid}) in {os.path.dirname(record)}: "
                  f"{error}; it runs all the same, but `ci cleanup` cannot see it and may remove its run's test "
                  f"stacks", file=sys.stderr, flush=True)
            record = ""
    try:
        os.write(pid_pipe, f"{worker.pid}\\n".encode())
        os.close(pid_pipe)
    except OSError:
        pass  # the foreground is gone (killed); the worker is still waited for and cleaned up after
    code = worker.wait()
finally:
    if worker is not None and worker.poll() is None:
        code = worker.wait()
    shutil.rmtree(secrets, ignore_errors=True)
    if record and os.path.exists(record):
        os.remove(record)
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


def launcher_command(pid_pipe: int, status_file: Path, secrets_dir: Path, record_file: Path | None,
                     record_facts: dict, argv: Sequence[str]) -> list[str]:
    return [sys.executable, "-c", _LAUNCHER, str(pid_pipe), str(status_file), str(secrets_dir),
            str(record_file or ""), json.dumps(record_facts), *argv]


def copy_secret_files(environ: dict[str, str], variables: Sequence[str], secrets_dir: Path) -> dict[str, str]:
    """The environment with each variable that names a file pointing at a private copy of it in secrets_dir (0700,
    files 0600). Why: withCredentials deletes its files when its block ends (jenkinsci/credentials-binding-plugin:
    src/main/java/org/jenkinsci/plugins/credentialsbinding/impl/: the files are written 0400 into
    UnbindableDir.create's 0700 dir by SSHUserPrivateKeyBinding.bind and, through AbstractOnDiskBinding.bindSingle,
    FileBinding.write; UnbindableDir.java UnbinderImpl.unbind deletes them, secretsDir(workspace).child(dirName)
    .deleteRecursive(), FileBinding's own UnbinderImpl being a deprecated no-op that readResolves to it;
    BindingStep.java Callback.finished runs the unbinders when the body ends), which after an abort is about 20 s
    later, while the worker still rolls back. A variable naming no file is left as it is, for the worker to report.
    Contents are never printed."""
    secrets_dir.chmod(0o700)
    copied = dict(environ)
    for index, variable in enumerate(variables):
        source = Path(environ.get(variable, ""))
        if not environ.get(variable) or not source.is_file():
            continue
        copy = secrets_dir / f"{index}-{source.name}"
        # Created 0600 from the start: the secret is never readable by anyone else, not even for a moment.
        descriptor = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(source.read_bytes())
        copied[variable] = str(copy)
    return copied


def run_detached(argv: Sequence[str], cwd: Path, environ: dict[str, str], secret_variables: Sequence[str] = (),
                 record_file: Path | None = None, record_facts: dict | None = None) -> int:
    """Run argv outside the build's process tree and wait for it; SIGTERM/SIGINT are forwarded to it, and if this
    process is killed the worker still finishes on its own. Returns its exit code.

    The files named by secret_variables are copied for the worker (copy_secret_files); while it runs, record_file
    holds its pid and start time, its waiter's, the copies' directory and record_facts (so that `ci cleanup` leaves
    its run alone, and removes the copies if the waiter is SIGKILLed). Its waiter removes both when the worker ends,
    whatever the outcome, also when this process was killed; a record it cannot write is reported on stderr and the
    worker runs without one."""
    status_dir = Path(tempfile.mkdtemp(prefix="mlci-detached-"))
    status_file = status_dir / "exit-code"
    secrets_dir = Path(tempfile.mkdtemp(prefix=SECRETS_DIR_PREFIX))
    try:
        worker_environ = copy_secret_files(detached_environment(environ), secret_variables, secrets_dir)
    except OSError:
        shutil.rmtree(secrets_dir, ignore_errors=True)
        shutil.rmtree(status_dir, ignore_errors=True)
        raise
    read_end, write_end = os.pipe()
    try:
        launcher = subprocess.Popen(launcher_command(write_end, status_file, secrets_dir, record_file,
                                                     record_facts or {}, argv),
                                    cwd=cwd, env=worker_environ, stdin=subprocess.DEVNULL,
                                    pass_fds=(write_end,), start_new_session=True)
    except OSError:
        shutil.rmtree(secrets_dir, ignore_errors=True)
        shutil.rmtree(status_dir, ignore_errors=True)
        raise
    finally:
        os.close(write_end)
    with os.fdopen(read_end) as pids:
        pid_line = pids.readline().strip()
    launcher.wait()
    if not pid_line.isdigit():
        # The waiter removes the copies when it gets that far; if the launcher itself failed, nobody else will.
        shutil.rmtree(secrets_dir, ignore_errors=True)
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
    # Not os.kill(pid, 0): a worker that ended is a zombie until its new parent reaps it, and in a container whose
    # PID 1 reaps nothing (a Jenkins agent started without --init) that is for ever; a zombie has ended.
    return process_start_time(pid) is not None


def process_start_time(pid: int) -> int | None:
    """When the process started (clock ticks since boot, /proc/<pid>/stat field 22), None if there is none: with
    the pid it names one process for good, as a pid alone does not once the pid is reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 2 (the command name) is in parentheses and may hold spaces or ')': count from the last ')'.
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[19]) if fields[0] != "Z" else None


def owner_token() -> str:
    """This process as `<pid>:<start time>`: a label on what it starts and removes on every exit path, so that a later
    run can tell what a SIGKILLed one left (its owner is gone) from what a live one uses."""
    pid = os.getpid()
    return f"{pid}:{process_start_time(pid)}"


def owner_alive(token: str) -> bool:
    """Whether the process an owner_token names still runs; a token that does not parse names no live process."""
    pid, _, start = token.partition(":")
    return pid.isdigit() and start.isdigit() and same_process(int(pid), int(start))


def same_process(pid: int, start_time: int) -> bool:
    """Whether the process recorded as (pid, start time) is still running (not gone, not a reused pid)."""
    return start_time is not None and process_start_time(pid) == start_time
