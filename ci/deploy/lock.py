"""The environment's lock on a host: its remote commands (atomic mkdir, owner, heartbeat, takeover) and the holder."""

import json
import shlex
import threading
import time

from ci.console import progress
from ci.deploy.names import RemotePaths
from ci.deploy.plan import sh
from ci.errors import CannotRun
from ci.executor.ssh import SshHost

# Heartbeats come several times within the stale threshold, so a live deploy's lock is never taken over.
HEARTBEATS_PER_STALE_PERIOD = 4


def lock_acquire_command(paths: RemotePaths, deploy_id: str, owner: str) -> list[str]:
    """mkdir is atomic: exactly one deploy creates the lock directory; it then records who holds it."""
    owner_json = json.dumps({"deploy_id": deploy_id, "owner": owner})
    return sh(f"mkdir -p {shlex.quote(paths.base)} && mkdir {shlex.quote(paths.lock)} 2>/dev/null"
              f" && printf '%s' {shlex.quote(owner_json)} > {shlex.quote(paths.lock)}/owner.json"
              f" && date +%s > {shlex.quote(paths.lock)}/heartbeat")


def lock_status_command(paths: RemotePaths) -> list[str]:
    """Prints: the host's clock, the heartbeat (or 0), then the owner JSON (or nothing)."""
    lock = shlex.quote(paths.lock)
    return sh(f"date +%s; cat {lock}/heartbeat 2>/dev/null || echo 0; cat {lock}/owner.json 2>/dev/null || true")


def lock_heartbeat_command(paths: RemotePaths, deploy_id: str) -> list[str]:
    lock = shlex.quote(paths.lock)
    return sh(f"grep -q {shlex.quote(deploy_id)} {lock}/owner.json && date +%s > {lock}/heartbeat")


def lock_takeover_command(paths: RemotePaths, stale_owner_deploy_id: str) -> list[str]:
    """Move a dead deploy's lock aside (rename is atomic: of two recoverers, one wins) and keep it for the record."""
    lock = shlex.quote(paths.lock)
    aside = shlex.quote(f"{paths.lock}.stale-{stale_owner_deploy_id or 'unknown'}")
    return sh(f"rm -rf {aside} && mv {lock} {aside}")


def lock_release_command(paths: RemotePaths, deploy_id: str) -> list[str]:
    """Only the holder removes the lock."""
    lock = shlex.quote(paths.lock)
    return sh(f"if grep -q {shlex.quote(deploy_id)} {lock}/owner.json 2>/dev/null; then rm -rf {lock}; fi")


def parse_lock_status(text: str) -> tuple[int, int, dict]:
    lines = text.splitlines()
    now, heartbeat = int(lines[0]), int(lines[1] or 0)
    owner = json.loads(lines[2]) if len(lines) > 2 and lines[2].strip() else {}
    return now, heartbeat, owner


def lock_is_stale(now: int, heartbeat: int, stale_seconds: int) -> bool:
    return heartbeat > 0 and now - heartbeat > stale_seconds


class DeployLock:
    """The environment's lock on one host: atomic mkdir, an owner, a heartbeat, and takeover of a dead holder's."""

    def __init__(self, host: SshHost, paths: RemotePaths, deploy_id: str, owner: str,
                 wait_seconds: int, stale_seconds: int):
        self.host, self.paths, self.deploy_id, self.owner = host, paths, deploy_id, owner
        self.wait_seconds, self.stale_seconds = wait_seconds, stale_seconds
        self.heartbeat_seconds = max(0.5, stale_seconds / HEARTBEATS_PER_STALE_PERIOD)
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def acquire(self) -> None:
        deadline = time.monotonic() + self.wait_seconds
        announced = False
        while True:
            if self.host.run(lock_acquire_command(self.paths, self.deploy_id, self.owner), check=False) \
                    .returncode == 0:
                self._beat = threading.Thread(target=self._heartbeat, daemon=True)
                self._beat.start()
                return
            now, heartbeat, holder = parse_lock_status(self.host.text(lock_status_command(self.paths)))
            if lock_is_stale(now, heartbeat, self.stale_seconds):
                progress(f"{self.host.address}: taking over the stale lock of {holder.get('owner', 'unknown')} "
                         f"(no heartbeat for {now - heartbeat}s)")
                self.host.run(lock_takeover_command(self.paths, holder.get("deploy_id", "")), check=False)
                continue
            if time.monotonic() > deadline:
                raise CannotRun(f"{self.host.address}: the environment is locked by {holder.get('owner', 'unknown')} "
                                f"(deploy {holder.get('deploy_id', '?')}); waited {self.wait_seconds}s")
            if not announced:
                progress(f"{self.host.address}: waiting for the lock held by {holder.get('owner', 'unknown')}")
                announced = True
            time.sleep(1)

    def check(self) -> None:
        """Raises when this deploy no longer holds the lock (called between steps)."""

    def release(self) -> None:
        self._stop.set()
        if self._beat:
            self._beat.join(timeout=self.heartbeat_seconds + 30)
        self.host.run(lock_release_command(self.paths, self.deploy_id), check=False)

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.heartbeat_seconds):
            try:
                self.host.run(lock_heartbeat_command(self.paths, self.deploy_id), check=False, timeout=20)
            except CannotRun:
                pass  # the deploy itself will notice a dead connection
