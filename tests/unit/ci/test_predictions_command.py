"""`ci predictions export`: what it runs on each host (fake SSH hosts record argv), where the lines go, and its
errors. No Docker, no SSH; tests/deploy/test_predictions.py exports from real hosts."""

import io
import json
from types import SimpleNamespace

import pytest

from ci.__main__ import build_parser
from ci.commands import predictions
from ci.deploy import sessions
from ci.config import Config
from ci.context import Context
from ci.errors import CannotRun, UserError

HOSTS = ("deploy@10.0.0.5:22", "deploy@10.0.0.6:22")
CURRENT = "20260102T030405-0c89f6af6c8e"


class FakeHost:
    """Answers the current-release read, and writes two JSON lines for an export, as the release would."""

    def __init__(self, address, calls: list, current: str = CURRENT, fail_export: bool = False):
        self.address, self.calls, self.current, self.fail_export = address, calls, current, fail_export

    def text(self, argv) -> str:
        self.calls.append((str(self.address), list(argv)))
        return self.current

    def run_into(self, argv, output) -> str:
        self.calls.append((str(self.address), list(argv)))
        if self.fail_export:
            output.write(b'{"request_id": "half')
            raise CannotRun(f"{self.address}: `docker exec` failed (exit 1): Error: No such container")
        for number in range(2):
            output.write(json.dumps({"request_id": f"{self.address.host}-{number}"}).encode() + b"\n")
        return "export_predictions: 2 predictions\n"

    def close(self) -> None:
        pass


@pytest.fixture
def exporting(tmp_path, monkeypatch):
    calls: list = []
    hosts = {"fail": False, "current": CURRENT}
    config = Config()
    config.environments["staging"] = SimpleNamespace(hosts=HOSTS, public_urls=("http://a", "http://b"),
                                                     database_url_variable="")
    ctx = Context(root=tmp_path, config=config, environ={})
    monkeypatch.setattr(sessions, "ssh_credentials", lambda environment, environ, root: SimpleNamespace(
        key_file="k", known_hosts_file="kh", cleanup=lambda: None))
    monkeypatch.setattr(sessions, "SshHost", lambda address, key, known: FakeHost(
        address, calls, hosts["current"], hosts["fail"]))
    return ctx, calls, hosts


def export_args(*argv: str):
    return build_parser().parse_args(["predictions", "export", "--env", "staging", *argv])


def test_each_hosts_serving_release_exports_its_log_into_one_file(exporting, tmp_path):
    ctx, calls, _ = exporting
    output = tmp_path / "predictions.jsonl"
    outcome = predictions.run(export_args("--since", "2026-12-03T11:00:00+01:00", "--output", str(output)), ctx)
    assert outcome.exit_code == 0
    assert outcome.summary == f"4 predictions of staging from 2 host(s) written to {output}"
    exports = [argv for _, argv in calls if argv[:2] == ["docker", "exec"]]
    assert exports == [["docker", "exec", f"ml-model-service-staging-{CURRENT}", "python", "-m",
                        "model_app.export_predictions", "--since", "2026-12-03T10:00:00+00:00"]] * 2
    assert [host for host, argv in calls if argv[:2] == ["docker", "exec"]] == list(HOSTS)
    assert [json.loads(line)["request_id"] for line in output.read_text().splitlines()] == [
        "10.0.0.5-0", "10.0.0.5-1", "10.0.0.6-0", "10.0.0.6-1"]
    assert [path.name for path in tmp_path.iterdir()] == ["predictions.jsonl"]


def test_a_shared_postgresql_database_is_exported_once(exporting):
    ctx, calls, _ = exporting
    ctx.config.environments["staging"].database_url_variable = "PREDICTIONS_DATABASE_URL"
    stdout = SimpleNamespace(buffer=io.BytesIO(), flush=lambda: None)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(predictions.sys, "stdout", stdout)
        outcome = predictions.run(export_args(), ctx)
    assert outcome.summary == "2 predictions of staging from 1 host(s) written to stdout"
    assert {host for host, _ in calls} == {HOSTS[0]}
    assert [argv[-1] for _, argv in calls if argv[:2] == ["docker", "exec"]] == ["model_app.export_predictions"]
    assert len(stdout.buffer.getvalue().splitlines()) == 2


def test_a_failed_export_leaves_no_partial_file(exporting, tmp_path):
    ctx, _, hosts = exporting
    hosts["fail"] = True
    output = tmp_path / "predictions.jsonl"
    with pytest.raises(CannotRun, match="No such container"):
        predictions.run(export_args("--output", str(output)), ctx)
    assert list(tmp_path.iterdir()) == []


def test_an_environment_with_nothing_deployed_says_so(exporting):
    ctx, _, hosts = exporting
    hosts["current"] = ""
    with pytest.raises(CannotRun, match="no release of staging is current here"):
        predictions.run(export_args(), ctx)


def test_a_since_that_is_not_iso_8601_is_a_usage_error_naming_the_option(exporting):
    ctx, calls, _ = exporting
    with pytest.raises(UserError, match=r"--since must be an ISO 8601 time .*got 'last tuesday'") as raised:
        predictions.run(export_args("--since", "last tuesday"), ctx)
    assert raised.value.exit_code == 2 and calls == []
