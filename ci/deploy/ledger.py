"""The release ledger: the audit log each host keeps of every deploy and rollback of an environment, as a hash chain.

Format: one JSON object per line (sorted keys, ASCII, so never a newline inside). Every record carries
`prev_sha256`, the sha256 of the previous record's line (its bytes without the newline); the first record of a log
carries 64 zeros. Changing or removing a record breaks the link of the record after it, so `ci audit verify` finds
it. What a chain alone cannot show: the last record rewritten, or the log cut after a record, by someone who can
write the file (root can also rewrite the whole chain). `append_audit` returns the new head hash: recorded off the
host (reports/deploy.json, archived by Jenkins), it anchors the chain, and a later head must descend from it.

Torn lines: an append cut short (a dropped connection, a full disk) leaves a last line without its newline. The next
append first terminates that line (records are never glued onto it) and chains to the last *complete record*: the
last line that is a JSON object (a torn line that lacks only its newline is one, and is chained to). Lines it steps
over are named by their sha256 in the new record's `skipped_sha256`, so a repaired torn line verifies while a line
slipped in between two records later does not. A log written before the chain existed (records without
`prev_sha256`) is continued from its last line; those records are counted as unchained.

The append is a compare-and-swap, although deploys append only while they hold the environment's lock: the remote
script appends only if the log's last line still hashes to what the deployer read (an exclusive `flock` on the log
makes check and append one step against another append, where util-linux is installed); otherwise it exits
LOG_MOVED_EXIT and `append_audit` reads the head again. The line is then fsynced (`sync FILE DIR`: coreutils 8.24 and
later fsync each file named; older ones sync everything, as durable and slower).
"""

import base64
import binascii
import hashlib
import json
import shlex
from dataclasses import dataclass, field

from ci.deploy.names import RemotePaths
from ci.deploy.plan import sh
from ci.errors import CannotRun
from ci.executor.ssh import RemoteCommandFailed, SshHost

ZERO_SHA256 = "0" * 64
# Lines read back before an append: the last record is nearly always the last line; more only when it is not.
HEAD_LINES = 64
LOG_MOVED_EXIT = 75  # EX_TEMPFAIL: read the head again and retry
APPEND_ATTEMPTS = 3


@dataclass(frozen=True)
class LogTail:
    """The end of a log (or all of it) as read from a host: its bytes and the line number its first line has."""

    data: bytes
    first_line: int = 1

    @property
    def whole(self) -> bool:
        return self.first_line == 1


@dataclass(frozen=True)
class LineProblem:
    line: int
    problem: str


@dataclass
class ChainReport:
    """What `verify_chain` found in one log."""

    records: int = 0
    head_sha256: str = ZERO_SHA256  # of the last record's line: what the next record must carry
    broken: list[LineProblem] = field(default_factory=list)  # sorted by line; the first is the first broken link
    notes: list[LineProblem] = field(default_factory=list)  # torn lines: repaired, or the tail
    unchained: int = 0  # records written before the chain existed
    torn_tail: int | None = None

    @property
    def verified(self) -> bool:
        return not self.broken


# ── remote commands (data) ───────────────────────────────────────────────────────────────────────────────────────

def audit_read_command(paths: RemotePaths, lines: int | None = None) -> list[str]:
    """The log's newline count, then its last `lines` lines (all of it for None) in base64, so that the bytes,
    a missing final newline included, arrive as they are. Read under a shared flock: never half an append."""
    log = shlex.quote(paths.audit_log)
    body = f"base64 -w 0 < {log}" if lines is None else f"tail -n {int(lines)} {log} | base64 -w 0"
    return sh(f"if [ -f {log} ]; then exec 9< {log}; if command -v flock >/dev/null 2>&1; then flock -s 9; fi; "
              f"wc -l < {log}; {body}; else echo 0; fi")


def audit_append_command(paths: RemotePaths, expected_last_sha256: str) -> list[str]:
    """Append the line on stdin if the log's last line still hashes to expected_last_sha256 (64 zeros: the log is
    empty or missing); a torn last line is terminated first; then the log is fsynced."""
    if len(expected_last_sha256) != 64 or any(c not in "0123456789abcdef" for c in expected_last_sha256):
        raise ValueError(f"not a sha256: {expected_last_sha256!r}")
    base, log = shlex.quote(paths.base), shlex.quote(paths.audit_log)
    return sh(
        f"set -eu; mkdir -p {base}; exec 9>> {log}; "
        f"if command -v flock >/dev/null 2>&1; then flock -x 9; fi; "
        f"if [ -s {log} ]; then last=$(tail -n 1 {log} | tr -d '\\n' | sha256sum | cut -c 1-64); "
        f"else last={ZERO_SHA256}; fi; "
        f"if [ \"$last\" != {expected_last_sha256} ]; then "
        f"echo \"the audit log moved: its last line hashes to $last, not {expected_last_sha256}\" >&2; "
        f"exit {LOG_MOVED_EXIT}; fi; "
        f"if [ -s {log} ] && [ \"$(tail -c 1 {log} | wc -l)\" -eq 0 ]; then printf '\\n' >&9; fi; "
        f"cat >&9; sync {log} {base}")


# ── records and parsing (pure) ───────────────────────────────────────────────────────────────────────────────────

def line_sha256(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def chained_line(record: dict, prev_sha256: str, skipped: list[str] | tuple[str, ...] = ()) -> bytes:
    """The record as its log line, newline included, chained to the record before it."""
    linked = {**record, "prev_sha256": prev_sha256}
    linked.pop("skipped_sha256", None)
    if skipped:
        linked["skipped_sha256"] = list(skipped)
    return (json.dumps(linked, sort_keys=True, default=str) + "\n").encode()


def parse_read_output(output: str) -> LogTail:
    """What audit_read_command printed (the newline count, then base64) as a LogTail with its first line number."""
    count, _, encoded = output.strip().partition("\n")
    try:
        newlines, data = int(count), base64.b64decode(encoded.strip(), validate=True)
    except (ValueError, binascii.Error):
        raise CannotRun(f"the audit log could not be read back: unexpected output {output[:80]!r}") from None
    return LogTail(data, first_line=max(1, newlines - data.count(b"\n") + 1))


def split_lines(data: bytes) -> tuple[list[bytes], bool]:
    """The lines without their newlines, and whether the last one is torn (no newline)."""
    if not data:
        return [], False
    lines = data.split(b"\n")
    torn = lines[-1] != b""
    return (lines if torn else lines[:-1]), torn


def parse_record(line: bytes) -> dict | None:
    """The record a line holds; None for anything that is not one JSON object (torn, corrupt, empty)."""
    try:
        entry = json.loads(line)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        return None
    return entry if isinstance(entry, dict) else None


@dataclass(frozen=True)
class AppendPoint:
    prev_sha256: str  # of the last complete record's line
    skipped: tuple[str, ...]  # sha256 of each line after it (torn or corrupt)
    expected_last_sha256: str  # of the log's last line as read: the compare-and-swap's expected value


def append_point(tail: LogTail) -> AppendPoint | None:
    """Where the next record goes; None when the tail read holds no record and the log has earlier lines."""
    lines, _ = split_lines(tail.data)
    expected = line_sha256(lines[-1]) if lines else ZERO_SHA256
    for index in range(len(lines) - 1, -1, -1):
        if parse_record(lines[index]) is not None:
            return AppendPoint(line_sha256(lines[index]), tuple(map(line_sha256, lines[index + 1:])), expected)
    if not tail.whole:
        return None
    return AppendPoint(ZERO_SHA256, tuple(map(line_sha256, lines)), expected)


def log_entries(tail: LogTail) -> tuple[list[dict], list[LineProblem]]:
    """The records of a tail read, and a problem for each line that is not one (never an exception)."""
    lines, torn = split_lines(tail.data)
    entries, problems = [], []
    for number, line in enumerate(lines, tail.first_line):
        entry = parse_record(line)
        if entry is not None:
            entries.append(entry)
        elif torn and number == tail.first_line + len(lines) - 1:
            problems.append(LineProblem(number, "is torn (no newline: an append was cut short)"))
        else:
            problems.append(LineProblem(number, "is not a JSON record (torn or corrupt)"))
    return entries, problems


def verify_chain(data: bytes) -> ChainReport:
    """Check a whole log: every line a record whose prev_sha256 is the sha256 of the record line before it (64
    zeros for the first), every other line named by the next record's skipped_sha256, a torn last line noted."""
    report = ChainReport()
    lines, torn = split_lines(data)
    previous_line = 0  # line number of the last record, 0 for none
    pending: list[tuple[int, str]] = []  # non-record lines since the last record
    chained = False
    for number, line in enumerate(lines, 1):
        entry = parse_record(line)
        is_torn_tail = torn and number == len(lines)
        if is_torn_tail:
            report.torn_tail = number
            report.notes.append(LineProblem(number, "torn: the last line has no newline (an append was cut "
                                                    "short); the next append terminates it"))
        if entry is None:
            if not is_torn_tail:
                pending.append((number, line_sha256(line)))
            continue
        report.records += 1
        prev = entry.get("prev_sha256")
        if prev is None and not chained:
            report.unchained += 1
            report.broken += [LineProblem(n, "is not a JSON record") for n, _ in pending]
        elif prev is None:
            report.broken.append(LineProblem(number, "has no prev_sha256, after the chain began"))
        else:
            chained = True
            _check_link(report, number, entry, prev, previous_line, pending)
        pending = []
        previous_line, report.head_sha256 = number, line_sha256(line)
    report.broken += [LineProblem(n, "is not a JSON record, and no record after it names it") for n, _ in pending]
    report.broken.sort(key=lambda problem: problem.line)
    return report


def _check_link(report: ChainReport, number: int, entry: dict, prev: str, previous_line: int,
                pending: list[tuple[int, str]]) -> None:
    if prev != report.head_sha256:
        where = f"line {previous_line}'s sha256 {report.head_sha256[:12]}…" if previous_line else \
            "64 zeros, as a log's first record must carry"
        report.broken.append(LineProblem(number, f"prev_sha256 {str(prev)[:12]}… is not {where}: a record before "
                                                 f"it was changed or removed"))
    declared = entry.get("skipped_sha256") or []
    if declared == [sha for _, sha in pending]:
        report.notes += [LineProblem(n, f"is not a record (a torn append), named by line {number}")
                         for n, _ in pending]
        return
    report.broken += [LineProblem(n, "is not a JSON record") for n, sha in pending if sha not in declared]
    missing = len([sha for sha in declared if sha not in {s for _, s in pending}])
    if missing:
        report.broken.append(LineProblem(number, f"names {missing} skipped line(s) before it that are not there: "
                                                 f"a line was removed or changed"))


# ── on a host ────────────────────────────────────────────────────────────────────────────────────────────────────

def read_log_tail(host: SshHost, paths: RemotePaths, lines: int | None) -> LogTail:
    return parse_read_output(host.text(audit_read_command(paths, lines)))


def append_audit(host: SshHost, paths: RemotePaths, record: dict) -> str:
    """Append the record, chained to the log's last complete record; returns the new head (the line's sha256)."""
    for _ in range(APPEND_ATTEMPTS):
        point = append_point(read_log_tail(host, paths, HEAD_LINES))
        if point is None:  # no record among the last lines: read the whole log
            point = append_point(read_log_tail(host, paths, None))
        line = chained_line(record, point.prev_sha256, point.skipped)
        try:
            host.run(audit_append_command(paths, point.expected_last_sha256), input_bytes=line)
        except RemoteCommandFailed as error:
            if error.returncode != LOG_MOVED_EXIT:
                raise
            continue
        return line_sha256(line.rstrip(b"\n"))
    raise CannotRun(f"{host.address}: the audit log kept changing while appending ({APPEND_ATTEMPTS} attempts)")
