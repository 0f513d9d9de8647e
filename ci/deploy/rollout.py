"""A rollout over an environment's hosts, as one transaction: lock every host, change them in batches, and either
record the change everywhere or undo it everywhere it was made.

    lock (host by host, in the configured order) → batches (hosts of a batch at once) → record → retire
    any exception, a failed step, SIGTERM or Ctrl-C → abort: running steps reach their next safe point →
    every touched host undone, newest first → an audit record per host saying what really happened → exit non-zero

While it runs, SIGINT and SIGTERM do not raise: they set the abort, which every step checks between steps, so that
no host is left between two steps (a half-switched proxy, a worker still persisting after the lock was released).
"""

import traceback
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from datetime import datetime, timezone

from ci.console import info, progress
from ci.deploy.host import HostChange, unexpected
from ci.deploy.plan import batches
from ci.deploy.transaction import Abort, Aborted
from ci.errors import UserError
from ci.executor import process


class Rollout:
    def __init__(self, changes: list[HostChange], batch_size: int, abort: Abort):
        self.changes, self.batch_size, self.abort = changes, batch_size, abort
        self.failure: BaseException | None = None
        self.interrupted = False

    def run(self) -> BaseException | None:
        """The whole transaction; returns the failure that stopped it (None when every host took the release)."""
        try:
            for change in self.changes:
                change.step("lock", change.acquire_lock)
            for batch in batches(self.changes, self.batch_size):
                self._run_batch(batch)
            for change in self.changes:
                change.step("record", change.record)
            self.abort.check()  # the commit point: an abort up to here undoes everything
        except BaseException as error:  # every exit path undoes: unforeseen exceptions too
            self._fail(error)
        if self.failure is None:
            self._retire()
        return self.failure

    def _run_batch(self, batch: list[HostChange]) -> None:
        """The hosts of one batch change at once; the first failure aborts the others at their next safe point,
        and nothing goes on until every one of them has stopped."""
        with ThreadPoolExecutor(max_workers=len(batch)) as pool:
            futures = [pool.submit(change.run) for change in batch]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            first = next((future.exception() for future in done if future.exception() is not None), None)
            if first is not None:
                self.abort.set(str(unexpected(first)))
            wait(futures)
        errors = [future.exception() for future in futures if future.exception() is not None]
        if errors:
            # An abort seen by the other hosts is a consequence; the cause is the first error that is not one.
            raise next((error for error in errors if not isinstance(error, Aborted)), errors[0])

    def _fail(self, error: BaseException) -> None:
        self.failure = error
        if not isinstance(error, (UserError, KeyboardInterrupt)):
            # An unforeseen failure: its one-line summary ends the run, its traceback is kept for whoever debugs it.
            info("".join(traceback.format_exception(error)).rstrip())
        reason = str(unexpected(error))
        self.abort.set(reason)
        for change in reversed(self.changes):
            if change.touched:
                progress(f"{change.session.address}: undoing ({reason})")
            change.roll_back(reason if change.touched else f"not deployed: {reason}")

    def _retire(self) -> None:
        """The change is recorded everywhere: what remains is housekeeping, whose failure undoes nothing."""
        for change in self.changes:
            try:
                change.step("retire", change.retire)
            except Exception as error:
                change.outcome.result = "success"
                change.outcome.notes.append(f"retiring the previous release failed: {unexpected(error)}")
                info(f"  warning: {change.session.address}: {unexpected(error)}")

    def on_signal(self, name: str) -> None:
        self.interrupted = True
        self.abort.set(f"interrupted ({name})")


def audit_record(base: dict, change: HostChange, action: str) -> dict:
    outcome = change.outcome
    return {**base, "time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "action": action,
            "host": outcome.host, "release": outcome.release or base.get("release", ""),
            "previous": outcome.previous, "result": outcome.result, "reason": outcome.reason,
            "steps": list(change.host.steps_done), "notes": list(outcome.notes), "durations": outcome.durations,
            "transfer": outcome.transfer, "lock_token": outcome.lock_token}


def execute(changes: list[HostChange], sessions: list, locks: list, batch_size: int, abort: Abort,
            record_base: dict, action: str, append_audit) -> Rollout:
    """The rollout, then whatever happened: an audit record on every host whose lock this run held, the locks
    released (holder only), the connections closed. Returns the finished Rollout (its failure, interrupted)."""
    rollout = Rollout(changes, batch_size, abort)
    with process.interrupts_call(rollout.on_signal):
        try:
            rollout.run()
        finally:
            _close(changes, sessions, locks, record_base, action, append_audit)
    return rollout


def _close(changes, sessions, locks, record_base: dict, action: str, append_audit) -> None:
    """A true record on every host whose lock this run held; then the locks (holder only) and the connections."""
    for change, session in zip(changes, sessions):
        if "lock" not in change.host.steps_done:
            continue
        try:
            # The log's new head, kept off the host in the report: an anchor for `ci audit verify`.
            change.outcome.audit_head = append_audit(session, change.names.paths,
                                                     audit_record(record_base, change, action))
        except Exception as error:  # the record of one host must not cost the others theirs
            info(f"  warning: could not append to the audit log on {change.outcome.host}: {unexpected(error)}")
    for lock in reversed(locks):
        try:
            lock.release()
        except Exception as error:
            info(f"  warning: could not release the lock on {lock.host.address}: {unexpected(error)}")
    for session in sessions:
        try:
            session.close()
        except Exception:
            pass  # a cut connection has nothing left to close
