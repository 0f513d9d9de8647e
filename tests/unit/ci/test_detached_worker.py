"""A deploy survives a Jenkins abort: Jenkins's killer played exactly as it works, against a toy worker started the
way `ci deploy` starts its work (ci.executor.process.run_detached), and against one started the ordinary way."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ci.deploy.credentials import SECRET_FILE_VARIABLES
from ci.executor.process import (JENKINS_KILL_VARIABLES, detached_environment, process_start_time, same_process,
                                 under_build_killer)

REPOSITORY_ROOT = Path(__file__).resolve().parents[3]
COOKIES = {"JENKINS_SERVER_COOKIE": "durable-5f1d0c0ffee", "JENKINS_NODE_COOKIE": "6f1c0c2e-0000-4000-8000-0000"}
# Shorter than Jenkins's default (SoftKillWaitSeconds=5) so that the test is quick, and shorter than the rollback.
SOFT_KILL_SECONDS = 1.0
ROLLBACK_SECONDS = 2.5

# The toy deploy: on SIGTERM/SIGINT it "rolls back" (slower than the soft-kill wait) and writes its record.
TOY_WORKER = f"""
import os, signal, sys, time
record = sys.argv[1]
def roll_back(signum, frame):
    open(record, "w").write("rolling back")
    time.sleep({ROLLBACK_SECONDS})
    open(record, "w").write("rolled back")
    sys.exit(130)
signal.signal(signal.SIGTERM, roll_back)
signal.signal(signal.SIGINT, roll_back)
open(record + ".pid", "w").write(str(os.getpid()))
time.sleep(60)
open(record, "w").write("deployed")
"""
# `ci deploy`'s foreground under Jenkins: hand the work to run_detached and wait.
DETACHED_FOREGROUND = """
import sys
from ci.executor.process import run_detached
sys.exit(run_detached(sys.argv[1:], ".", dict(__import__("os").environ)))
"""
# The foreground with what `ci deploy` hands over: the secret-file variables to copy and the worker's record.
SECRETS_FOREGROUND = """
import json, os, sys
from pathlib import Path
from ci.executor.process import run_detached
record = Path(sys.argv[1])
sys.exit(run_detached(sys.argv[2:], ".", dict(os.environ), secret_variables=json.loads(os.environ["TEST_SECRETS"]),
                      record_file=record, record_facts={"run": "jenkins-x-7", "command": "deploy"}))
"""
# A worker that reports the secret paths it was given, waits for the test's go, then reads them.
SECRETS_WORKER = """
import json, os, sys, time
out = sys.argv[1]
paths = {name: os.environ[name] for name in json.loads(os.environ["TEST_SECRETS"])}
open(out + ".paths.tmp", "w").write(json.dumps({"paths": paths, "pid": os.getpid()}))
os.replace(out + ".paths.tmp", out + ".paths")
# Bounded, so that a test failing before it says "go" leaves no worker behind.
give_up = time.monotonic() + 60
while not os.path.exists(out + ".go") and time.monotonic() < give_up:
    time.sleep(0.05)
seen = {name: {"content": open(path).read(), "mode": os.stat(path).st_mode & 0o777,
               "dir_mode": os.stat(os.path.dirname(path)).st_mode & 0o777} for name, path in paths.items()}
open(out, "w").write(json.dumps(seen))
"""
INLINE_FOREGROUND = """
import subprocess, sys
sys.exit(subprocess.call(sys.argv[1:]))
"""


# ── Jenkins's killer, as jenkinsci/jenkins core/src/main/java/hudson/util/ProcessTree.java does it on Linux ──────

def process_table() -> dict[int, int]:
    """pid → ppid of every process, read once (ProcfsUnix reads /proc once when the tree is built)."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            table[int(entry.name)] = int(next(line.split()[1] for line in status.splitlines()
                                              if line.startswith("PPid:")))
    return table


def has_matching_environment(pid: int, model: dict[str, str]) -> bool:
    """OSProcess.hasMatchingEnvVars over LinuxProcess.getEnvironmentVariables (/proc/<pid>/environ)."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    environ = dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)
    return all(environ.get(name) == value for name, value in model.items())


def kill_all(model: dict[str, str], killed: list[int]) -> None:
    """ProcessTree.killAll(modelEnvVars): killRecursively every match; UnixProcess.killRecursively kills the
    children (by PPid, whatever their environment) first, then the process: SIGTERM, wait for /proc/<pid>/status to
    go until the shared soft-kill deadline, then the ProcessKillers; we play the harshest of those, SIGKILL."""
    table = process_table()

    def kill_recursively(pid: int, deadline: float) -> None:
        for child in [child for child, parent in table.items() if parent == pid]:
            kill_recursively(child, deadline)
        killed.append(pid)
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        while time.monotonic() < deadline and Path(f"/proc/{pid}/status").exists() and not _zombie(pid):
            time.sleep(0.01)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    for pid in [pid for pid in table if has_matching_environment(pid, model)]:
        kill_recursively(pid, time.monotonic() + SOFT_KILL_SECONDS)


def _zombie(pid: int) -> bool:
    try:
        return "\nState:\tZ" in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True


# ── the build: a `sh` step (cookies in its environment) running the foreground ─────────────────────────────────

def start_build_step(foreground: str, record: Path) -> subprocess.Popen:
    command = [sys.executable, "-c", foreground, sys.executable, "-c", TOY_WORKER, str(record)]
    return subprocess.Popen(["sh", "-c", '"$@"; echo "exit $?"', "sh", *command], cwd=REPOSITORY_ROOT,
                            env={**os.environ, **COOKIES, "PYTHONPATH": str(REPOSITORY_ROOT)})


def wait_for(path: Path, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_a_detached_worker_finishes_its_rollback_after_jenkins_killed_the_build_step(tmp_path):
    record = tmp_path / "deploy-record"
    step = start_build_step(DETACHED_FOREGROUND, record)
    wait_for(Path(f"{record}.pid"))
    worker = int(Path(f"{record}.pid").read_text())
    killed: list[int] = []
    # The abort: the sh step's cookie (DurableTaskStep stop), then the node block's (ExecutorStepExecution).
    kill_all({"JENKINS_SERVER_COOKIE": COOKIES["JENKINS_SERVER_COOKIE"]}, killed)
    kill_all({"JENKINS_NODE_COOKIE": COOKIES["JENKINS_NODE_COOKIE"]}, killed)
    step.wait(timeout=10)
    assert step.pid in killed and worker not in killed
    assert record.read_text() == "rolling back"  # the forwarded SIGTERM started the rollback; the step is gone
    deadline = time.monotonic() + ROLLBACK_SECONDS + 5
    while record.read_text() != "rolled back":
        assert time.monotonic() < deadline, "the worker never finished its rollback"
        time.sleep(0.05)


def test_a_worker_started_the_ordinary_way_dies_with_the_build_step(tmp_path):
    # What `ci deploy` did before: its work ran in the step's process tree, and the rollback was cut short.
    record = tmp_path / "deploy-record"
    step = start_build_step(INLINE_FOREGROUND, record)
    wait_for(Path(f"{record}.pid"))
    killed: list[int] = []
    kill_all({"JENKINS_SERVER_COOKIE": COOKIES["JENKINS_SERVER_COOKIE"]}, killed)
    step.wait(timeout=10)
    time.sleep(ROLLBACK_SECONDS + 0.5)
    assert record.read_text() == "rolling back"


def test_the_foreground_forwards_sigterm_and_returns_the_workers_exit_code(tmp_path):
    record = tmp_path / "deploy-record"
    foreground = subprocess.Popen([sys.executable, "-c", DETACHED_FOREGROUND, sys.executable, "-c", TOY_WORKER,
                                   str(record)], cwd=REPOSITORY_ROOT, env={**os.environ, **COOKIES})
    wait_for(Path(f"{record}.pid"))
    foreground.send_signal(signal.SIGTERM)
    assert foreground.wait(timeout=ROLLBACK_SECONDS + 10) == 130
    assert record.read_text() == "rolled back"


def test_the_worker_environment_lacks_every_variable_jenkins_kills_by():
    environ = {"PATH": "/bin", "BUILD_TAG": "jenkins-x-1", **COOKIES}
    assert under_build_killer(environ) and not under_build_killer(detached_environment(environ))
    assert detached_environment(environ) == {"PATH": "/bin", "BUILD_TAG": "jenkins-x-1"}
    assert set(JENKINS_KILL_VARIABLES) == set(COOKIES)


# ── the secrets and the record the worker outlives the step with ────────────────────────────────────────────────

def bound_secrets(tmp_path) -> dict[str, Path]:
    """What withCredentials leaves for the step: read-only files in <workspace>@tmp/secretFiles/<uuid>/
    (jenkinsci/credentials-binding-plugin: src/main/java/org/jenkinsci/plugins/credentialsbinding/impl/
    UnbindableDir.java create: dirs 0700; SSHUserPrivateKeyBinding.java bind and, through
    AbstractOnDiskBinding.bindSingle, FileBinding.java write: createTempFile("file", null), chmod 0400)."""
    bound = tmp_path / "ws@tmp" / "secretFiles" / "0b6e4c1d"
    bound.mkdir(parents=True)
    files = {}
    for name in SECRET_FILE_VARIABLES:
        files[name] = bound / f"file-{name}"
        files[name].write_text(f"-----SECRET {name}-----\n")
        files[name].chmod(0o400)
    return files


def start_secret_step(tmp_path, secrets: dict[str, Path]) -> tuple[subprocess.Popen, Path, Path]:
    out, record = tmp_path / "seen.json", tmp_path / "build" / "detached-workers" / "w.json"
    environ = {**os.environ, **COOKIES, "PYTHONPATH": str(REPOSITORY_ROOT),
               "TEST_SECRETS": json.dumps(list(secrets)), **{name: str(path) for name, path in secrets.items()}}
    step = subprocess.Popen([sys.executable, "-c", SECRETS_FOREGROUND, str(record), sys.executable, "-c",
                             SECRETS_WORKER, str(out)], cwd=REPOSITORY_ROOT, env=environ,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return step, out, record


def test_the_worker_reads_private_copies_of_the_secret_files_which_outlive_the_unbind(tmp_path):
    secrets = bound_secrets(tmp_path)
    step, out, _ = start_secret_step(tmp_path, secrets)
    wait_for(Path(f"{out}.paths"))
    given = {name: Path(path) for name, path in json.loads(Path(f"{out}.paths").read_text())["paths"].items()}
    assert set(given) == set(SECRET_FILE_VARIABLES)
    assert all(given[name] != secrets[name] and tmp_path not in given[name].parents for name in given)
    # The step failed 20 s after the abort and withCredentials ended: UnbindableDir.UnbinderImpl.unbind.
    shutil.rmtree(secrets[SECRET_FILE_VARIABLES[0]].parent)
    Path(f"{out}.go").touch()
    stdout, stderr = step.communicate(timeout=20)
    assert step.returncode == 0, stderr
    seen = json.loads(out.read_text())
    for name in SECRET_FILE_VARIABLES:
        assert seen[name] == {"content": f"-----SECRET {name}-----\n", "mode": 0o600, "dir_mode": 0o700}
        assert not given[name].parent.exists(), "the copies outlived the worker"
        assert "SECRET" not in stdout + stderr


def test_the_copies_go_when_the_worker_ends_even_after_the_foreground_was_killed(tmp_path):
    step, out, _ = start_secret_step(tmp_path, bound_secrets(tmp_path))
    wait_for(Path(f"{out}.paths"))
    copies = Path(next(iter(json.loads(Path(f"{out}.paths").read_text())["paths"].values()))).parent
    step.kill()
    step.wait(timeout=10)
    assert copies.is_dir()  # the worker is still running and still needs them
    Path(f"{out}.go").touch()
    wait_for(out)
    deadline = time.monotonic() + 10
    while copies.exists():
        assert time.monotonic() < deadline, "the waiter never removed the copies"
        time.sleep(0.05)


def test_the_waiter_records_the_live_worker_by_pid_and_start_time_until_it_ends(tmp_path):
    step, out, record = start_secret_step(tmp_path, bound_secrets(tmp_path))
    wait_for(Path(f"{out}.paths"))
    worker = json.loads(Path(f"{out}.paths").read_text())["pid"]
    wait_for(record)
    recorded = json.loads(record.read_text())
    waiter = recorded["waiter_pid"]
    assert recorded == {"pid": worker, "start_time": process_start_time(worker), "waiter_pid": waiter,
                        "waiter_start_time": process_start_time(waiter), "run": "jenkins-x-7", "command": "deploy",
                        "secrets_dir": recorded["secrets_dir"]}
    assert Path(recorded["secrets_dir"]) == Path(json.loads(Path(f"{out}.paths").read_text())["paths"][
        SECRET_FILE_VARIABLES[0]]).parent
    assert same_process(recorded["pid"], recorded["start_time"])
    Path(f"{out}.go").touch()
    step.communicate(timeout=20)
    assert not record.exists()
    assert not same_process(recorded["pid"], recorded["start_time"])


def test_a_reused_pid_is_not_the_recorded_process():
    me = os.getpid()
    assert same_process(me, process_start_time(me))
    assert not same_process(me, process_start_time(me) + 1)
    ended = subprocess.Popen(["true"])
    ended.wait()
    assert process_start_time(ended.pid) is None and not same_process(ended.pid, 0)


@pytest.fixture(autouse=True)
def linux_proc():
    if not Path("/proc/self/environ").exists():
        pytest.fail("these tests read /proc as Jenkins's ProcessTree does on Linux", pytrace=False)
