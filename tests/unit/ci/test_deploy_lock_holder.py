"""DeployLock, the holder, over a fake host that runs the lock's remote commands locally (a temporary directory is
the environment's state dir): acquire with a fencing token, takeover, losing the lock, check() and release."""

import os
import subprocess
import time

import pytest

from ci.deploy import lock
from ci.deploy.names import RemotePaths
from ci.errors import CannotRun


class LocalHost:
    """An SshHost that runs each command here; `refuse` makes the commands whose $0 it names fail as a dead
    connection would."""

    address = "deploy@10.0.0.5:22"

    def __init__(self):
        self.refuse: set[str] = set()

    def run(self, argv, check=True, timeout=None, input_bytes=None):
        if argv[-1] in self.refuse:
            raise CannotRun(f"{self.address}: SSH connection failed: Connection reset")
        result = subprocess.run(argv, input=input_bytes, capture_output=True, timeout=timeout or 30)
        if check and result.returncode != 0:
            raise CannotRun(f"{self.address}: exit {result.returncode}: {result.stderr.decode()}")
        return result

    def text(self, argv) -> str:
        return self.run(argv).stdout.decode(errors="replace").strip()


@pytest.fixture
def paths(tmp_path) -> RemotePaths:
    return RemotePaths(str(tmp_path / "state"))


@pytest.fixture
def held(paths):
    """Deploy A holds the lock (a heartbeat every 15 s: none comes by itself during a test)."""
    holder = lock.DeployLock(LocalHost(), paths, "deploy-a", "alice", wait_seconds=0, stale_seconds=60)
    holder.acquire()
    yield holder
    holder.release()


def take_over(paths: RemotePaths, deploy_id: str, owner: str) -> None:
    """Another deploy judged A's lock stale (A paused too long) and takes it over."""
    seen = lock.parse_lock_status(LocalHost().text(lock.lock_status_command(paths)))
    assert LocalHost().run(lock.lock_takeover_command(paths, seen, deploy_id, owner), check=False).returncode == 0


def holder_file(paths: RemotePaths) -> str:
    with open(f"{paths.lock}/holder") as file:
        return file.read().strip()


def test_a_lock_is_acquired_with_a_fencing_token_and_released(paths, held):
    assert held.token == 1 and holder_file(paths) == "1 deploy-a"
    held.check()
    held.release()
    following = lock.DeployLock(LocalHost(), paths, "deploy-b", "bob", wait_seconds=0, stale_seconds=60)
    following.acquire()
    assert following.token == 2
    following.release()


def test_a_heartbeat_after_a_takeover_marks_the_old_holder_lost_and_check_raises(paths, held):
    take_over(paths, "deploy-b", "bob")
    held.beat()
    assert held.lost
    with pytest.raises(lock.LockLost, match=r"lost the environment's lock: it is held by bob \(deploy deploy-b, "
                                            r"token 2\)"):
        held.check()
    held.release()  # releasing a lost lock leaves the new holder's alone
    assert holder_file(paths) == "2 deploy-b"


def test_the_heartbeat_thread_notices_the_takeover_by_itself(paths):
    holder = lock.DeployLock(LocalHost(), paths, "deploy-a", "alice", wait_seconds=0, stale_seconds=60)
    holder.heartbeat_seconds = 0.01
    holder.acquire()
    try:
        take_over(paths, "deploy-b", "bob")
        deadline = time.monotonic() + 5
        while not holder.lost and time.monotonic() < deadline:
            time.sleep(0.01)
        assert holder.lost and "held by bob" in holder.lost_reason
    finally:
        holder.release()
    assert holder_file(paths) == "2 deploy-b"


def test_heartbeats_failing_in_a_row_mark_the_lock_lost(paths, held):
    held.host.refuse.add("mlci-lock-heartbeat")
    for _ in range(lock.MISSED_HEARTBEATS_LOST - 1):
        held.beat()
        held.check()
    held.beat()
    with pytest.raises(lock.LockLost, match="3 heartbeats in a row failed .*Connection reset"):
        held.check()


def test_a_stale_period_without_a_successful_heartbeat_marks_the_lock_lost(paths):
    now = [1000.0]
    holder = lock.DeployLock(LocalHost(), paths, "deploy-a", "alice", wait_seconds=0, stale_seconds=60,
                             clock=lambda: now[0])
    holder.acquire()
    try:
        now[0] += 59
        holder.check()
        now[0] += 2  # a heartbeat hangs: none has succeeded for longer than the stale period
        with pytest.raises(lock.LockLost, match="no heartbeat succeeded for 61s"):
            holder.check()
    finally:
        holder.release()
    assert not os.path.exists(paths.lock), "a lock lost by silence but still ours is released"


def test_acquire_takes_over_a_stale_lock_left_by_an_older_version(paths, capsys):
    # What tests/deploy leaves on a real host as a dead deploy: owner.json and a heartbeat, no holder file.
    LocalHost().run(["sh", "-c", f"mkdir -p {paths.lock} && echo '{{\"deploy_id\": \"dead\", \"owner\": "
                     f"\"a dead deploy\"}}' > {paths.lock}/owner.json && echo 1 > {paths.lock}/heartbeat"])
    holder = lock.DeployLock(LocalHost(), paths, "deploy-b", "bob", wait_seconds=0, stale_seconds=60)
    holder.acquire()
    holder.release()
    assert "taking over the stale lock of a dead deploy" in capsys.readouterr().err
    with open(f"{paths.lock_taken_over}/owner.json") as file:
        assert "a dead deploy" in file.read()


def test_a_busy_lock_is_waited_for_then_refused_naming_its_holder(paths, held):
    waiting = lock.DeployLock(LocalHost(), paths, "deploy-b", "bob", wait_seconds=0, stale_seconds=60)
    with pytest.raises(CannotRun, match=r"locked by alice \(deploy deploy-a, token 1\); waited 0s"):
        waiting.acquire()
    waiting.release()  # never acquired: nothing to release
    assert holder_file(paths) == "1 deploy-a"


def test_an_acquire_that_fails_on_the_host_is_an_error_not_a_wait(paths):
    os.makedirs(f"{paths.lock_counter}.tmp")  # the counter cannot be written (a full disk)
    holder = lock.DeployLock(LocalHost(), paths, "deploy-a", "alice", wait_seconds=60, stale_seconds=60)
    with pytest.raises(CannotRun, match="could not take the deploy lock"):
        holder.acquire()
