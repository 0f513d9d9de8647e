"""The release ledger: every audit record one fsynced JSON line chained by the sha256 of the line before it, an
append that is a compare-and-swap and never glues a record onto a torn line. The remote `sh` scripts run here,
locally, on a log in a temporary directory (they are scripts over absolute paths): no SSH, no Docker."""

import hashlib
import json
import subprocess

import pytest

from ci.deploy import ledger
from ci.deploy.names import RemotePaths
from ci.errors import CannotRun
from ci.executor.ssh import RemoteCommandFailed

ZEROS = "0" * 64


class LocalHost:
    """An SshHost whose 'remote' commands run on this machine (the ledger's scripts only touch paths they name)."""

    def __init__(self, address: str = "local-test-host"):
        self.address = address
        self.commands: list[list[str]] = []

    def run(self, argv, input_bytes=None, timeout=120, check=True):
        self.commands.append(list(argv))
        if argv[0] == "docker":  # release listings: this host runs none
            return subprocess.CompletedProcess(argv, 0, b"", b"")
        result = subprocess.run(list(argv), input=input_bytes, capture_output=True, timeout=timeout,
                                stdin=None if input_bytes is not None else subprocess.DEVNULL)
        if check and result.returncode != 0:
            raise RemoteCommandFailed(self.address, argv, result.returncode, result.stderr.decode())
        return result

    def text(self, argv, timeout=120) -> str:
        return self.run(argv, timeout=timeout).stdout.decode(errors="replace").strip()

    def close(self) -> None:
        pass


@pytest.fixture
def paths(tmp_path) -> RemotePaths:
    return RemotePaths(str(tmp_path / "state" / "ml-model-service" / "staging"))


def log_bytes(paths: RemotePaths) -> bytes:
    with open(paths.audit_log, "rb") as log:
        return log.read()


def sha(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def record(n: int) -> dict:
    return {"action": "deploy", "release": f"2026010{n}T000000-abc", "result": "success", "approved_by": "alice"}


def test_each_record_is_one_line_chained_to_the_one_before_and_the_first_to_zeros(paths):
    host = LocalHost()
    heads = [ledger.append_audit(host, paths, record(n)) for n in (1, 2, 3)]
    lines = log_bytes(paths).split(b"\n")
    assert lines[-1] == b"" and len(lines) == 4
    parsed = [json.loads(line) for line in lines[:3]]
    assert [entry["release"] for entry in parsed] == [record(n)["release"] for n in (1, 2, 3)]
    assert parsed[0]["prev_sha256"] == ZEROS
    assert parsed[1]["prev_sha256"] == sha(lines[0]) and parsed[2]["prev_sha256"] == sha(lines[1])
    assert heads == [sha(line) for line in lines[:3]]


def test_an_append_after_a_torn_line_never_glues_two_records(paths):
    host = LocalHost()
    ledger.append_audit(host, paths, record(1))
    with open(paths.audit_log, "ab") as log:
        log.write(b'{"action": "deploy", "release": "cut sh')  # an append the network cut short
    ledger.append_audit(host, paths, record(3))
    lines = log_bytes(paths).split(b"\n")
    assert lines[1] == b'{"action": "deploy", "release": "cut sh'
    third = json.loads(lines[2])
    assert third["release"] == record(3)["release"]
    # The chain goes from the last complete record, and the skipped fragment is named by the record after it.
    assert third["prev_sha256"] == sha(lines[0]) and third["skipped_sha256"] == [sha(lines[1])]
    assert ledger.verify_chain(log_bytes(paths)).verified


def test_a_torn_line_that_is_a_whole_record_but_its_newline_is_chained_to(paths):
    host = LocalHost()
    ledger.append_audit(host, paths, record(1))
    data = log_bytes(paths)
    with open(paths.audit_log, "wb") as log:
        log.write(data[:-1])  # cut exactly before the newline
    ledger.append_audit(host, paths, record(2))
    lines = log_bytes(paths).split(b"\n")
    assert json.loads(lines[1])["prev_sha256"] == sha(lines[0]) and "skipped_sha256" not in json.loads(lines[1])
    assert ledger.verify_chain(log_bytes(paths)).records == 2


def test_the_append_is_a_compare_and_swap_on_the_last_line(paths):
    host = LocalHost()
    ledger.append_audit(host, paths, record(1))
    line = ledger.chained_line(record(2), ZEROS)
    # Expecting the log to be empty when it is not: nothing is appended, and the remote says why.
    with pytest.raises(RemoteCommandFailed) as refused:
        host.run(ledger.audit_append_command(paths, ZEROS), input_bytes=line)
    assert refused.value.returncode == ledger.LOG_MOVED_EXIT
    assert "the audit log moved" in refused.value.stderr
    assert log_bytes(paths).count(b"\n") == 1


def test_append_retries_when_another_append_got_there_first(paths, monkeypatch):
    host = LocalHost()
    ledger.append_audit(host, paths, record(1))
    real_read = ledger.read_log_tail

    def read_then_someone_else_appends(session, paths_, lines):
        tail = real_read(session, paths_, lines)
        if not getattr(read_then_someone_else_appends, "done", False):
            read_then_someone_else_appends.done = True
            ledger.append_audit(host, paths, record(2))
        return tail

    monkeypatch.setattr(ledger, "read_log_tail", read_then_someone_else_appends)
    ledger.append_audit(host, paths, record(3))
    report = ledger.verify_chain(log_bytes(paths))
    assert report.verified and report.records == 3


def test_the_append_fsyncs_the_log():
    script = " ".join(ledger.audit_append_command(RemotePaths("/var/lib/mlci/p/e"), ZEROS))
    assert "sync /var/lib/mlci/p/e/audit.log" in script


def test_a_log_written_before_the_chain_is_continued_from_its_last_line(paths):
    legacy = b'{"action": "deploy", "release": "old-1"}\n{"action": "deploy", "release": "old-2"}\n'
    import os
    os.makedirs(paths.base)
    with open(paths.audit_log, "wb") as log:
        log.write(legacy)
    ledger.append_audit(LocalHost(), paths, record(1))
    lines = log_bytes(paths).split(b"\n")
    assert json.loads(lines[2])["prev_sha256"] == sha(lines[1])
    report = ledger.verify_chain(log_bytes(paths))
    assert report.verified and report.records == 3 and report.unchained == 2


def test_a_long_log_is_read_back_far_enough_to_find_its_last_record(paths, monkeypatch):
    host = LocalHost()
    ledger.append_audit(host, paths, record(1))
    with open(paths.audit_log, "ab") as log:
        log.write(b"garbage\n" * (ledger.HEAD_LINES + 5))
    ledger.append_audit(host, paths, record(2))
    last = json.loads(log_bytes(paths).split(b"\n")[-2])
    assert last["prev_sha256"] == sha(log_bytes(paths).split(b"\n")[0])
    assert len(last["skipped_sha256"]) == ledger.HEAD_LINES + 5


def test_append_gives_up_with_one_line_when_the_log_keeps_moving(paths):
    class MovingLog(LocalHost):
        def run(self, argv, input_bytes=None, timeout=120, check=True):
            if input_bytes is not None:  # every append finds the log changed
                raise RemoteCommandFailed(self.address, argv, ledger.LOG_MOVED_EXIT, "the audit log moved")
            return super().run(argv, input_bytes, timeout, check)

    with pytest.raises(CannotRun, match="the audit log kept changing while appending"):
        ledger.append_audit(MovingLog(), paths, record(1))
