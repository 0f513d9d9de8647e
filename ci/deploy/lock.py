"""The environment's lock on a host: its remote commands (as data) and DeployLock, the holder that runs them.

How the commands stay correct against each other, on any host with util-linux `flock` (every Debian and Ubuntu,
and our target-host image):
- The lock is the directory `lock` in the environment's state dir. Its `holder` file says "<token> <deploy id>":
  the token comes from a counter (`lock.token`) that every acquire increments, so no two acquisitions share an
  identity, not even two of one deploy id (a fencing token: the audit record can say which acquisition did what).
- Every command that changes the lock (acquire, takeover, heartbeat, release) checks and changes it while holding
  an exclusive flock on `lock.guard`: they are atomic against each other. No takeover can come between a
  heartbeat's "still mine?" and its write, nor between a release's check and its removal.
- A takeover is compare-and-swap on what was judged stale: in one guarded step it checks that the lock still shows
  exactly that (holder, heartbeat and directory mtime), moves it aside and acquires. Of two deploys racing to take
  over one stale lock, the second finds the first's lock and refuses; a holder that was only slow has beaten since
  (its heartbeat changed), so a takeover decided before that beat refuses too: a takeover never removes a live lock.
- The status command only reads, unguarded, and prints tagged lines with every value already reduced to what a
  takeover compares (digits, a holder's safe characters). Whatever it prints, parse_lock_status returns a status;
  an unknown heartbeat (a lock created but never completed, a torn write of an older version) means "judge the lock
  by its age", the mtime of its directory against the host's clock.
- Heartbeats and the counter are written to a temporary file renamed over the old one: never half a value.
"""

import json
import re
import shlex
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ci.console import progress
from ci.deploy.names import RemotePaths
from ci.deploy.plan import sh
from ci.errors import CannotRun
from ci.executor.ssh import SshHost

# Heartbeats come several times within the stale threshold, so a live deploy's lock is never taken over.
HEARTBEATS_PER_STALE_PERIOD = 4
# Failed heartbeats in a row after which the holder counts its lock lost: three quarters of the stale period,
# before anyone may judge it stale. A stale period without a successful heartbeat counts as lost too.
MISSED_HEARTBEATS_LOST = 3
# Exit status of a lock command that found the lock someone else's: any other failure is the command's own.
NOT_OURS = 10
GUARD_WAIT_SECONDS = 10
# The characters a deploy id keeps in a holder line, besides `-`: no newline, no `|`, nothing a decoder would
# change. A holder line with any other character (besides the space after the token) reads as "unreadable".
HOLDER_CHARACTERS = "A-Za-z0-9._:@%+="
STATUS_FIELDS = ("now", "created", "heartbeat", "holder", "owner")


def holder_id(deploy_id: str) -> str:
    return re.sub(f"[^{HOLDER_CHARACTERS}-]", "_", deploy_id) or "unnamed"


def _script(verb: str, paths: RemotePaths, body: str, guarded: bool = True) -> list[str]:
    """A lock command: the helpers (shell builtins where they can be: a host forks little), the guard, the body; its
    $0 names it (in `ps`, in tests)."""
    lock = shlex.quote(paths.lock)
    helpers = ('first_line() { v=; { IFS= read -r v < "$1"; } 2>/dev/null; }; '
               'number() { first_line "$1"; case $v in *[!0-9]*) v=;; esac; }; '
               f"read_holder() {{ first_line {lock}/holder; holder=$v; "
               f"case $holder in *[!{HOLDER_CHARACTERS}\\ -]*) holder=unreadable;; esac; }}; "
               f"observe() {{ created=$(stat -c %Y {lock} 2>/dev/null); number {lock}/heartbeat; heartbeat=$v; "
               "read_holder; }; ")
    base = shlex.quote(paths.base)
    guard = (f"{{ [ -d {base} ] || mkdir -p {base}; }} && exec 9>>{shlex.quote(paths.lock_guard)} "
             f"&& flock -w {GUARD_WAIT_SECONDS} 9 || "
             f"{{ echo {shlex.quote(f'cannot lock {paths.lock_guard} (flock, from util-linux)')} >&2; exit 2; }}; ")
    return [*sh(helpers + (guard if guarded else "") + body), f"mlci-lock-{verb}"]


def _acquire(paths: RemotePaths, deploy_id: str, owner: str) -> str:
    """The guarded body that creates the lock when there is none; prints `token=N`. The holder file is written in
    place: no guarded command looks before it is complete, and a status read of half of it makes a takeover refuse."""
    lock, counter = shlex.quote(paths.lock), shlex.quote(paths.lock_counter)
    owner_json = json.dumps({"deploy_id": deploy_id, "owner": owner})
    return (f"[ -e {lock} ] && exit {NOT_OURS}; "
            # An unreadable counter restarts at the host's clock: above any count of deploys handed out before.
            f'number {counter}; t=$v; [ -z "$t" ] && [ -s {counter} ] && t=$(date +%s); t=$((${{t:-0}} + 1)); '
            f"mkdir {lock} || {{ [ -e {lock} ] && exit {NOT_OURS}; exit 2; }}; "
            f"printf '%s\\n' \"$t\" > {counter}.tmp && mv -f {counter}.tmp {counter} "
            f"&& printf '%s %s\\n' \"$t\" {shlex.quote(holder_id(deploy_id))} > {lock}/holder "
            f"&& printf '%s\\n' {shlex.quote(owner_json)} > {lock}/owner.json "
            f"&& date +%s > {lock}/heartbeat.tmp && mv -f {lock}/heartbeat.tmp {lock}/heartbeat && echo \"token=$t\" "
            # Never leave a half-made lock behind (a full disk): it would wait a stale period for nothing.
            f"|| {{ rm -rf {lock}; exit 2; }}")


def lock_acquire_command(paths: RemotePaths, deploy_id: str, owner: str) -> list[str]:
    """Create the lock if there is none (exit 0, prints `token=N`); exit NOT_OURS if there is one."""
    return _script("acquire", paths, _acquire(paths, deploy_id, owner))


def lock_status_command(paths: RemotePaths) -> list[str]:
    """Prints tagged lines: now (the host's clock), created (the lock's mtime), heartbeat, holder, owner (JSON).
    An absent or unreadable value is printed empty."""
    return _script("status", paths, f"observe; first_line {shlex.quote(paths.lock)}/owner.json; "
                   "printf 'now=%s\\ncreated=%s\\nheartbeat=%s\\nholder=%s\\nowner=%s\\n' "
                   '"$(date +%s)" "$created" "$heartbeat" "$holder" "$v"', guarded=False)


def lock_takeover_command(paths: RemotePaths, stale: "LockStatus", deploy_id: str, owner: str) -> list[str]:
    """Move the stale lock aside (kept for the record) and acquire, only if it still shows what was judged stale;
    exit NOT_OURS, touching nothing, if it changed in between."""
    lock, aside = shlex.quote(paths.lock), shlex.quote(paths.lock_taken_over)
    return _script("takeover", paths,
                   f'observe; [ -n "$created" ] && [ "$created|$heartbeat|$holder" = {shlex.quote(stale.identity)} ] '
                   f"|| exit {NOT_OURS}; rm -rf {aside} && mv {lock} {aside} || exit 2; "
                   + _acquire(paths, deploy_id, owner))


def lock_heartbeat_command(paths: RemotePaths, holder: str) -> list[str]:
    """Only the holder's heartbeat is written (exit NOT_OURS otherwise), by rename: never a torn value."""
    lock = shlex.quote(paths.lock)
    return _script("heartbeat", paths, f'read_holder; [ "$holder" = {shlex.quote(holder)} ] || exit {NOT_OURS}; '
                   f"date +%s > {lock}/heartbeat.tmp && mv -f {lock}/heartbeat.tmp {lock}/heartbeat")


def lock_release_command(paths: RemotePaths, holder: str) -> list[str]:
    """Only the holder removes the lock (exit NOT_OURS otherwise); a rename first, so it vanishes at once."""
    lock, released = shlex.quote(paths.lock), shlex.quote(paths.lock_released)
    return _script("release", paths, f'read_holder; [ "$holder" = {shlex.quote(holder)} ] || exit {NOT_OURS}; '
                   f"rm -rf {released} && mv {lock} {released} && rm -rf {released}")


@dataclass(frozen=True)
class LockStatus:
    """What the status command printed. Any value may be unknown (None, empty): that is never an error."""

    now: int | None = None
    created: int | None = None
    heartbeat: int | None = None
    holder: str = ""
    owner: dict = field(default_factory=dict)
    identity: str = ""  # "created|heartbeat|holder" as printed: what a takeover compares

    @property
    def last_sign_of_life(self) -> int | None:
        """The heartbeat; for a lock without one (never completed), the lock directory's mtime."""
        return self.heartbeat or self.created

    @property
    def who(self) -> str:
        name = self.owner.get("owner") or self.holder.partition(" ")[2] or "unknown"
        token = self.holder.partition(" ")[0]
        return f"{name} (deploy {self.owner.get('deploy_id', '?')}, token {token or '?'})"


def _number(text: str) -> int | None:
    return int(text) if re.fullmatch(r"[0-9]{1,18}", text) else None


def parse_lock_status(text: str) -> LockStatus:
    """Never raises: a torn or garbage read yields unknown values."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, separator, value = line.partition("=")
        if separator and key in STATUS_FIELDS:
            values.setdefault(key, value)
    try:
        owner = json.loads(values.get("owner", ""))
    except (ValueError, RecursionError):
        owner = {}
    created, heartbeat, holder = values.get("created", ""), values.get("heartbeat", ""), values.get("holder", "")
    return LockStatus(now=_number(values.get("now", "")), created=_number(created), heartbeat=_number(heartbeat),
                      holder=holder, owner={key: str(value) for key, value in owner.items()}
                      if isinstance(owner, dict) else {}, identity=f"{created}|{heartbeat}|{holder}")


def lock_is_stale(status: LockStatus, stale_seconds: int) -> bool:
    """Stale: no sign of life for longer than stale_seconds by the host's clock. Unknown is never stale."""
    if status.now is None or status.created is None or status.last_sign_of_life is None:
        return False
    return status.now - status.last_sign_of_life > stale_seconds


class LockLost(CannotRun):
    """This deploy no longer holds the environment's lock: it must stop changing the host and roll back."""


class DeployLock:
    """The environment's lock on one host, held by one deploy: acquire (or take over a dead holder's), a heartbeat
    thread, check() between steps, release. `token` is the acquisition's fencing token."""

    def __init__(self, host: SshHost, paths: RemotePaths, deploy_id: str, owner: str,
                 wait_seconds: int, stale_seconds: int, clock: Callable[[], float] = time.monotonic):
        self.host, self.paths, self.deploy_id, self.owner = host, paths, deploy_id, owner
        self.wait_seconds, self.stale_seconds, self.clock = wait_seconds, stale_seconds, clock
        self.heartbeat_seconds = max(0.5, stale_seconds / HEARTBEATS_PER_STALE_PERIOD)
        self.token: int | None = None
        self.lost = False
        self.lost_reason = ""
        self._missed = 0
        self._last_beat = 0.0  # self.clock() when the last successful heartbeat (or the acquire) started
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    @property
    def holder(self) -> str:
        return f"{self.token} {holder_id(self.deploy_id)}"

    def acquire(self, interrupted: Callable[[], None] = lambda: None) -> None:
        """interrupted() is called while waiting (the deploy's abort check: a Ctrl-C stops the wait)."""
        deadline = time.monotonic() + self.wait_seconds
        announced = False
        while True:
            interrupted()
            if self._took(lock_acquire_command(self.paths, self.deploy_id, self.owner), "take"):
                return
            status = parse_lock_status(self.host.text(lock_status_command(self.paths)))
            if lock_is_stale(status, self.stale_seconds):
                progress(f"{self.host.address}: taking over the stale lock of {status.owner.get('owner', 'unknown')} "
                         f"(no heartbeat for {status.now - status.last_sign_of_life}s)")
                if self._took(lock_takeover_command(self.paths, status, self.deploy_id, self.owner), "take over"):
                    return
                progress(f"{self.host.address}: the stale lock changed hands before this deploy could take it over")
            if time.monotonic() > deadline:
                raise CannotRun(f"{self.host.address}: the environment is locked by {status.who}; "
                                f"waited {self.wait_seconds}s")
            if not announced:
                progress(f"{self.host.address}: waiting for the lock held by {status.who}")
                announced = True
            time.sleep(1)

    def check(self) -> None:
        """Raises LockLost once the lock is no longer this deploy's (the sequence calls this between its steps)."""
        self._lose_if_silent()
        if self.lost:
            raise LockLost(f"{self.host.address}: this deploy lost the environment's lock: {self.lost_reason}")

    def beat(self) -> None:
        """One heartbeat (the thread's, or a test's); marks the lock lost when it is no longer ours."""
        if self.lost or self.token is None:
            return
        started = self.clock()
        try:
            result = self.host.run(lock_heartbeat_command(self.paths, self.holder), check=False, timeout=20)
            returncode, detail = result.returncode, _text(result.stderr)
        except CannotRun as error:  # a dead connection, a heartbeat that hangs
            returncode, detail = None, str(error)
        if returncode == 0:
            self._missed, self._last_beat = 0, started
        elif returncode == NOT_OURS:
            self._lose(f"it is held by {self._holder_now()}")
        else:
            self._missed += 1
            if self._missed >= MISSED_HEARTBEATS_LOST:
                self._lose(f"{self._missed} heartbeats in a row failed ({detail.strip()[-200:]}); "
                           "another deploy may hold it now")
            self._lose_if_silent()

    def release(self) -> None:
        """Holder-only: a lost lock's release leaves the new holder's lock alone."""
        self._stop.set()
        if self._beat:
            self._beat.join(timeout=self.heartbeat_seconds + 30)
        if self.token is not None:
            self.host.run(lock_release_command(self.paths, self.holder), check=False)

    def _took(self, command: list[str], verb: str) -> bool:
        started = self.clock()
        result = self.host.run(command, check=False)
        if result.returncode == NOT_OURS:
            return False
        token = re.search(r"^token=([0-9]+)$", _text(result.stdout), re.MULTILINE)
        if result.returncode != 0 or not token:
            raise CannotRun(f"{self.host.address}: could not {verb} the deploy lock (exit {result.returncode}): "
                            f"{_text(result.stderr).strip()[-300:]}")
        self.token, self._last_beat = int(token.group(1)), started
        self._beat = threading.Thread(target=self._keep_alive, daemon=True)
        self._beat.start()
        return True

    def _keep_alive(self) -> None:
        while not self.lost and not self._stop.wait(self.heartbeat_seconds):
            self.beat()

    def _lose_if_silent(self) -> None:
        silent = self.clock() - self._last_beat
        if self.token is not None and not self.lost and silent > self.stale_seconds:
            self._lose(f"no heartbeat succeeded for {silent:.0f}s (stale after {self.stale_seconds}s); "
                       "another deploy may hold it now")

    def _lose(self, reason: str) -> None:
        self.lost_reason, self.lost = reason, True
        progress(f"{self.host.address}: this deploy lost the environment's lock: {reason}")

    def _holder_now(self) -> str:
        try:
            status = parse_lock_status(self.host.text(lock_status_command(self.paths)))
        except CannotRun:
            return "someone else (the host did not say who)"
        return status.who if status.created is not None else "no one (the lock was removed)"


def _text(output: bytes | str | None) -> str:
    return output.decode(errors="replace") if isinstance(output, bytes) else output or ""
