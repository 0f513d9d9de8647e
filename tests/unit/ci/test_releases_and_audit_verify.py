"""`ci releases` and `ci audit verify` over hosts whose audit logs were torn, edited or cut: warnings naming the host
and line, never a traceback; the chain checked by a pure function over the log's bytes (crafted logs below)."""

import json
from types import SimpleNamespace

import pytest

from ci.commands import audit, releases
from ci.config import Config, DeployConfig
from ci.context import Context
from ci.deploy import ledger, sessions
from ci.deploy.names import EnvironmentNames
from ci.errors import CheckFailed
from tests.unit.ci.test_audit_ledger import LocalHost, record

HOSTS = ("deploy@10.0.0.5:22", "deploy@10.0.0.6:22")


@pytest.fixture
def environment(tmp_path, monkeypatch):
    """Two hosts whose 'remote' state dir is a temporary directory here; returns (ctx, the paths of the log)."""
    config = Config(deploy=DeployConfig(state_dir=str(tmp_path / "state")))
    config.environments["staging"] = SimpleNamespace(hosts=HOSTS, public_urls=("http://a", "http://b"),
                                                     local_target=False, public_port=8080)
    ctx = Context(root=tmp_path, config=config, environ={})
    ctx.__dict__["report_run"] = "local-test"
    monkeypatch.setattr(sessions, "ssh_credentials", lambda environment, environ, root: SimpleNamespace(
        key_file="k", known_hosts_file="kh", cleanup=lambda: None))
    monkeypatch.setattr(sessions, "SshHost", lambda address, key, known: LocalHost(str(address)))
    return ctx, EnvironmentNames(config.project.name, "staging", config.deploy.state_dir).paths


def write_log(paths, data: bytes) -> None:
    import os
    os.makedirs(paths.base, exist_ok=True)
    with open(paths.audit_log, "wb") as log:
        log.write(data)


def test_releases_tolerates_a_corrupt_line_and_a_torn_tail_naming_host_and_line(environment, capsys):
    ctx, paths = environment
    good = json.dumps(record(1)).encode()
    write_log(paths, good + b"\n" + b"\x00garbage{\n" + good + b"\n" + b'{"action": "depl')
    outcome = releases.run(SimpleNamespace(env="staging", audit=10), ctx)
    assert outcome.exit_code == 0
    err = capsys.readouterr().err
    assert f"warning: {HOSTS[0]}: audit log line 2 is not a JSON record (torn or corrupt)" in err
    assert f"warning: {HOSTS[0]}: audit log line 4 is torn (no newline: an append was cut short)" in err
    report = json.loads((ctx.root / "reports" / "releases.json").read_text())
    assert [entry["release"] for entry in report["hosts"][0]["audit"]] == [record(1)["release"]] * 2
    assert report["hosts"][0]["audit_warnings"] == ["line 2 is not a JSON record (torn or corrupt)",
                                                    "line 4 is torn (no newline: an append was cut short)"]


def test_releases_numbers_lines_of_a_long_log_as_the_file_does(environment, capsys):
    ctx, paths = environment
    good = json.dumps(record(1)).encode() + b"\n"
    write_log(paths, good * 20 + b"not json\n" + good)
    releases.run(SimpleNamespace(env="staging", audit=3), ctx)
    assert f"warning: {HOSTS[1]}: audit log line 21 is not a JSON record" in capsys.readouterr().err


def test_releases_prints_a_record_whose_fields_are_not_text(environment, capsys):
    ctx, paths = environment
    write_log(paths, b'{"action": null, "release": 7, "result": ["x"]}\n')
    assert releases.run(SimpleNamespace(env="staging", audit=10), ctx).exit_code == 0
    assert "7" in capsys.readouterr().err


# ── the chain, over crafted logs ─────────────────────────────────────────────────────────────────────────────

def chain(count: int) -> list[bytes]:
    """An intact log's lines (newline included), each chained to the one before."""
    lines, prev = [], ledger.ZERO_SHA256
    for n in range(1, count + 1):
        lines.append(ledger.chained_line(record(n), prev))
        prev = ledger.line_sha256(lines[-1].rstrip(b"\n"))
    return lines


def test_an_intact_log_verifies_with_its_head():
    lines = chain(4)
    report = ledger.verify_chain(b"".join(lines))
    assert report.verified and report.records == 4 and report.notes == []
    assert report.head_sha256 == ledger.line_sha256(lines[-1].rstrip(b"\n"))
    assert ledger.verify_chain(b"").verified and ledger.verify_chain(b"").head_sha256 == ledger.ZERO_SHA256


def test_one_edited_record_breaks_the_link_after_it():
    lines = chain(4)
    lines[1] = lines[1].replace(b'"approved_by": "alice"', b'"approved_by": "mallory"')
    report = ledger.verify_chain(b"".join(lines))
    assert not report.verified
    assert report.broken[0].line == 3 and "is not line 2's sha256" in report.broken[0].problem
    assert report.records == 4


def test_one_deleted_record_breaks_the_link_where_it_was():
    lines = chain(4)
    del lines[1]
    report = ledger.verify_chain(b"".join(lines))
    assert [problem.line for problem in report.broken] == [2]
    assert "changed or removed" in report.broken[0].problem


def test_a_deleted_first_record_is_found_by_the_zeros():
    report = ledger.verify_chain(b"".join(chain(3)[1:]))
    assert report.broken[0].line == 1 and "64 zeros" in report.broken[0].problem


def test_a_torn_tail_is_reported_as_torn_and_the_chain_before_it_verifies():
    lines = chain(3)
    report = ledger.verify_chain(b"".join(lines[:2]) + lines[2][:40])
    assert report.verified and report.records == 2 and report.torn_tail == 3
    assert report.notes[0].line == 3 and report.notes[0].problem.startswith("torn")


def test_a_garbage_line_between_records_is_a_broken_link():
    lines = chain(3)
    lines.insert(2, b"rm -rf / # not a record\n")
    report = ledger.verify_chain(b"".join(lines))
    assert [(problem.line, problem.problem) for problem in report.broken] == [(3, "is not a JSON record")]


def test_a_garbage_line_after_the_last_record_is_broken_until_an_append_names_it():
    report = ledger.verify_chain(b"".join(chain(2)) + b"garbage\n")
    assert report.broken[0].line == 3 and "no record after it names it" in report.broken[0].problem


def test_a_record_naming_a_skipped_line_that_was_removed_is_broken():
    first = chain(1)[0]
    torn = b'{"half a rec'
    third = ledger.chained_line(record(3), ledger.line_sha256(first.rstrip(b"\n")), [ledger.line_sha256(torn)])
    assert ledger.verify_chain(first + torn + b"\n" + third).verified
    report = ledger.verify_chain(first + third)
    assert report.broken[0].line == 2 and "not there" in report.broken[0].problem


# ── ci audit verify ──────────────────────────────────────────────────────────────────────────────────────────

def test_audit_verify_passes_an_intact_chain_and_reports_each_hosts_head(environment, capsys):
    ctx, paths = environment
    lines = chain(3)
    write_log(paths, b"".join(lines))
    outcome = audit.run(SimpleNamespace(env="staging"), ctx)
    assert outcome.exit_code == 0 and "verifies on 2 host(s)" in outcome.summary
    head = ledger.line_sha256(lines[-1].rstrip(b"\n"))
    assert f"{HOSTS[0]}: 3 record(s), head {head[:16]}…, chain verifies" in capsys.readouterr().err
    report = json.loads((ctx.root / "reports" / "audit-verify.json").read_text())
    assert report["hosts"][1] == {"host": HOSTS[1], "verified": True, "records": 3, "unchained": 0,
                                  "head_sha256": head, "first_broken": None, "broken": [], "notes": [],
                                  "torn_tail_line": None}
    assert report["run"] == "local-test"


def test_audit_verify_fails_naming_the_first_broken_link_and_still_writes_its_report(environment, capsys):
    ctx, paths = environment
    lines = chain(4)
    del lines[2]
    write_log(paths, b"".join(lines) + b'{"torn')
    with pytest.raises(CheckFailed) as failed:
        audit.run(SimpleNamespace(env="staging"), ctx)
    assert failed.value.exit_code == 1 and "broken on 2 of 2 host(s)" in str(failed.value)
    err = capsys.readouterr().err
    assert f"{HOSTS[0]}: 3 record(s), head" in err and "BROKEN at line 3: prev_sha256" in err
    assert "torn tail at line 4" in err
    report = json.loads((ctx.root / "reports" / "audit-verify.json").read_text())
    assert report["hosts"][0]["first_broken"]["line"] == 3 and report["hosts"][0]["torn_tail_line"] == 4


def test_audit_verify_reads_a_missing_log_as_an_empty_chain(environment):
    ctx, _ = environment
    assert audit.run(SimpleNamespace(env="staging"), ctx).exit_code == 0
