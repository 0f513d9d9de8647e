"""What a detached deploy worker leaves behind when something around it fails: its record cannot be written, its
waiter is signalled or killed. The worker must never run without its secret copies, and the copies must not stay
in the temporary directory for good (ci.executor.process.run_detached, ci/detached_workers.py, `ci cleanup`)."""

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from ci import detached_workers
from ci.commands import cleanup, deploy
from ci.config import Config
from ci.context import Context
from ci.executor import process
from ci.identity import BuildIdentity

REPOSITORY_ROOT = Path(__file__).resolve().parents[3]
RUN = "jenkins-ml-model-main-42"
SECRET = "DEPLOY_SSH_KEY_FILE"

# A worker that reports its pid and the path of its key copy, waits for the test's go, then reads the copy.
WORKER = """
import json, os, sys, time
out = sys.argv[1]
open(out + ".paths.tmp", "w").write(json.dumps({"key": os.environ["DEPLOY_SSH_KEY_FILE"], "pid": os.getpid()}))
os.replace(out + ".paths.tmp", out + ".paths")
# Bounded, so that a test failing before it says "go" leaves no worker behind.
give_up = time.monotonic() + 60
while not os.path.exists(out + ".go") and time.monotonic() < give_up:
    time.sleep(0.05)
open(out, "w").write(open(os.environ["DEPLOY_SSH_KEY_FILE"]).read())
"""
# `ci deploy`'s foreground, as detached_outcome calls it.
FOREGROUND = """
import os, sys
from pathlib import Path
from ci.executor.process import run_detached
sys.exit(run_detached(sys.argv[2:], ".", dict(os.environ), secret_variables=["DEPLOY_SSH_KEY_FILE"],
                      record_file=Path(sys.argv[1]), record_facts={"run": "jenkins-ml-model-main-42",
                                                                   "command": "deploy"}))
"""


def key_file(tmp_path) -> Path:
    key = tmp_path / "ws@tmp" / "secretFiles" / "0b6e" / "file"
    key.parent.mkdir(parents=True)
    key.write_text("-----SECRET KEY-----\n")
    key.chmod(0o400)
    return key


def wait_for(condition, what: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} never happened"
        time.sleep(0.05)


def parent_of(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))


def start_foreground(tmp_path, record: Path) -> tuple[subprocess.Popen, Path]:
    out = tmp_path / "seen"
    environ = {**os.environ, "PYTHONPATH": str(REPOSITORY_ROOT), SECRET: str(key_file(tmp_path))}
    step = subprocess.Popen([sys.executable, "-c", FOREGROUND, str(record), sys.executable, "-c", WORKER, str(out)],
                            cwd=REPOSITORY_ROOT, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    wait_for(lambda: Path(f"{out}.paths").exists(), "the worker's start")
    return step, out


def started(out: Path) -> tuple[int, Path]:
    given = json.loads(Path(f"{out}.paths").read_text())
    return given["pid"], Path(given["key"]).parent


def test_a_record_that_cannot_be_written_leaves_the_worker_its_copies_and_is_reported_truthfully(tmp_path):
    # Found by the second review: the parent said "could not start" while the worker ran with its copies deleted.
    step, out = start_foreground(tmp_path, Path("/proc/no-such-dir/record.json"))
    worker, copies = started(out)
    time.sleep(0.5)
    assert copies.is_dir(), "the copies were removed while the worker still ran"
    Path(f"{out}.go").touch()
    stdout, stderr = step.communicate(timeout=20)
    assert step.returncode == 0, stderr
    assert "could not start" not in stderr
    assert "could not record" in stderr and "ci cleanup" in stderr
    assert out.read_text() == "-----SECRET KEY-----\n"
    wait_for(lambda: not copies.exists(), "the removal of the copies")


def test_a_signalled_waiter_still_removes_the_copies_and_the_record_when_the_worker_ends(tmp_path):
    record = tmp_path / "workers" / "w.json"
    step, out = start_foreground(tmp_path, record)
    worker, copies = started(out)
    waiter = parent_of(worker)
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        os.kill(waiter, signum)
    time.sleep(0.3)
    assert process.process_start_time(waiter) is not None, "a signal ended the waiter; nobody would remove the copies"
    Path(f"{out}.go").touch()
    assert step.wait(timeout=20) == 0
    assert not copies.exists() and not record.exists()


def context(tmp_path, environ: dict) -> Context:
    ctx = Context(root=tmp_path, config=Config(), environ={"BUILD_TAG": RUN, "BUILD_NUMBER": "42", **environ})
    ctx.__dict__["identity"] = BuildIdentity(commit="0" * 40, branch="main", build_number="42", git_tag="",
                                             dirty=False, run_id=RUN)
    return ctx


@pytest.fixture
def no_engine(monkeypatch):
    monkeypatch.setattr(cleanup.docker_engine, "connect", lambda: None)
    monkeypatch.setattr(cleanup.docker_engine, "remove_compose_projects",
                        lambda client, matches: {"containers": [], "networks": [], "volumes": []})


PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


@pytest.fixture(params=["reaped", "never-reaped"])
def orphans(request):
    """Where an orphaned worker ends up: with a parent that reaps it (init, systemd), or with one that reaps
    nothing, as PID 1 of a container started without --init (many Jenkins agents): a zombie until the end. This
    test process plays that parent by becoming a child subreaper (prctl(2)) and reaping nothing."""
    libc = ctypes.CDLL(None, use_errno=True)
    adopted = []
    if request.param == "never-reaped":
        assert libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0, os.strerror(ctypes.get_errno())
    yield adopted
    libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
    for pid in adopted:  # end and reap what this test left as our children; a pid reused by another is no child
        try:
            if parent_of(pid) == os.getpid():
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
        except (OSError, StopIteration):
            pass


def test_cleanup_removes_the_copies_of_a_worker_whose_waiter_was_killed(tmp_path, no_engine, orphans):
    ctx = context(tmp_path, {})
    record = detached_workers.record_path(ctx.root, ctx.environ, RUN, "deploy")
    step, out = start_foreground(tmp_path, record)
    worker, copies = started(out)
    wait_for(record.exists, "the record")
    assert json.loads(record.read_text())["secrets_dir"] == str(copies)
    waiter = parent_of(worker)
    orphans.extend((step.pid, waiter, worker))
    os.kill(waiter, signal.SIGKILL)  # the OOM killer, say: nothing of the waiter runs any more
    Path(f"{out}.go").touch()
    wait_for(lambda: process.process_start_time(worker) is None, "the worker's end")
    # The step sees the worker's end (a zombie has ended) instead of waiting for ever.
    step.communicate(timeout=20)
    assert copies.is_dir() and record.exists()  # what was left behind
    outcome = cleanup.run(SimpleNamespace(project=None), ctx)
    assert not copies.exists(), "ci cleanup left the 0600 copies behind"
    assert not record.exists()
    assert outcome.exit_code == 0


def write_abandoned_record(directory: Path, tmp_path) -> tuple[Path, Path]:
    """A record whose worker and waiter are both gone, naming copies the waiter never removed."""
    ended = subprocess.Popen(["true"])
    ended.wait()
    copies = tmp_path / f"{detached_workers.SECRETS_DIR_PREFIX}abc"
    copies.mkdir()
    (copies / "0-file").write_text("secret")
    directory.mkdir(parents=True, exist_ok=True)
    record = directory / "old.json"
    record.write_text(json.dumps({"pid": ended.pid, "start_time": 1, "waiter_pid": ended.pid, "waiter_start_time": 1,
                                  "secrets_dir": str(copies), "run": "jenkins-x-1", "command": "deploy"}))
    return record, copies


def test_the_next_detached_deploy_removes_abandoned_copies_first(tmp_path, monkeypatch):
    ctx = context(tmp_path, {})
    record, copies = write_abandoned_record(detached_workers.workers_dir(ctx.root, ctx.environ), tmp_path)
    seen = {}

    def run_detached(argv, cwd, environ, **kwargs):
        seen["left"] = copies.exists() or record.exists()
        return 0

    monkeypatch.setattr(deploy.process, "run_detached", run_detached)
    deploy.detached_outcome(ctx, "deploy", [sys.executable, "-m", "ci", "deploy", "--env", "staging"])
    assert seen == {"left": False}


def test_a_record_never_makes_cleanup_remove_a_directory_that_is_not_a_secret_copy(tmp_path, no_engine):
    ctx = context(tmp_path, {})
    record, copies = write_abandoned_record(detached_workers.workers_dir(ctx.root, ctx.environ), tmp_path)
    precious = tmp_path / "src"
    precious.mkdir()
    record.write_text(json.dumps({**json.loads(record.read_text()), "secrets_dir": str(precious)}))
    cleanup.run(SimpleNamespace(project=None), ctx)
    assert precious.is_dir() and not record.exists()


def test_records_live_in_the_workspaces_tmp_sibling_which_git_clean_does_not_touch(tmp_path):
    # WORKSPACE_TMP is <workspace>@tmp (jenkinsci/workflow-durable-task-step-plugin ExecutorStepExecution,
    # jenkinsci/jenkins AbstractBuild.getEnvironment; WorkspaceList.tempDir); without it (locally) build/ is used.
    workspace_tmp = tmp_path / "ws@tmp"
    assert detached_workers.workers_dir(tmp_path / "ws", {"WORKSPACE_TMP": str(workspace_tmp)}) \
        == workspace_tmp / "mlci-detached-workers"
    assert detached_workers.workers_dir(tmp_path / "ws", {}) == tmp_path / "ws" / "build" / "detached-workers"
    record = detached_workers.record_path(tmp_path / "ws", {"WORKSPACE_TMP": str(workspace_tmp)}, RUN, "deploy")
    assert record.parent == workspace_tmp / "mlci-detached-workers"


def test_cleanup_reads_the_records_where_the_deploy_wrote_them(tmp_path, no_engine):
    ctx = context(tmp_path, {"WORKSPACE_TMP": str(tmp_path / "ws@tmp")})
    record, copies = write_abandoned_record(detached_workers.workers_dir(ctx.root, ctx.environ), tmp_path)
    cleanup.run(SimpleNamespace(project=None), ctx)
    assert not record.exists() and not copies.exists()


@pytest.fixture(autouse=True)
def linux_proc():
    if not Path("/proc/self/stat").exists():
        pytest.fail("these tests read /proc as the waiter does", pytrace=False)
