"""What the deploy sequence must do for the prediction log (orchestration only: a fake SSH host records argv and
stdin; tests/deploy/test_predictions.py covers real hosts): start the release with its store's stdin, stop the old
release with the plan's stop command, and stop a rolled-back release before removing it."""

from types import SimpleNamespace

import pytest

from ci.commands import deploy
from ci.config import Config
from ci.context import Context
from ci.deploy import plan
from ci.deploy.names import EnvironmentNames
from ci.deploy.predictions import PredictionStore
from ci.deploy.steps import HostOutcome
from ci.errors import CheckFailed

NAMES = EnvironmentNames("ml-model-service", "staging")
RELEASE = plan.Release("20260102T030405-0c89f6af6c8e", "sha256:0c89", "sha256:d", "1.0.0", "f" * 40)
PREVIOUS = "20260101T000000-111111111111"
STORE = PredictionStore("postgresql://predictions:s3cr3t@db/predictions")


class FakeHost:
    address = "deploy@10.0.0.5:22"

    def __init__(self):
        self.runs: list[tuple[list[str], bytes | None]] = []

    def run(self, argv, check=True, timeout=None, input_bytes=None):
        self.runs.append((list(argv), input_bytes))
        return SimpleNamespace(returncode=0, stdout=b"", stderr=b"")

    def text(self, argv) -> str:
        return PREVIOUS if "current" in " ".join(argv) else ""


class FakeTraffic:
    def __init__(self, *args):
        pass

    def slot_serving(self, container: str) -> str:
        return "blue"

    def switch_to(self, *args) -> None:
        pass


class Probe:
    failed, sent, errors = 0, 10, []

    def __init__(self, *args):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        pass


@pytest.fixture
def host(monkeypatch):
    monkeypatch.setattr(deploy, "ensure_proxy", lambda *args: "proxy")
    monkeypatch.setattr(deploy, "Traffic", FakeTraffic)
    monkeypatch.setattr(deploy, "ensure_image", lambda *args: "present")
    monkeypatch.setattr(deploy, "wait_healthy", lambda *args: 0.1)
    monkeypatch.setattr(deploy, "CutoverProbe", Probe)
    monkeypatch.setattr(deploy, "_probe_body", lambda: b"{}")
    return FakeHost()


def deploy_host(host, smoke_error: str = ""):
    ctx = Context(root=None, config=Config(), environ={})
    environment = SimpleNamespace(image_transfer="auto", public_port=8080)
    outcome = HostOutcome(host.address, "http://10.0.0.5:8080")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(deploy, "_smoke", lambda url: smoke_error)
        deploy._deploy_host(ctx, host, outcome, environment, RELEASE, {"pull_reference": "", "registry": ""},
                            {"image_id": "p"}, NAMES, STORE)
    return ctx, outcome


def test_the_release_is_started_with_its_stores_stdin_and_the_old_one_stopped_with_the_plans_timeout(host):
    ctx, outcome = deploy_host(host)
    started = [(argv, stdin) for argv, stdin in host.runs if argv[:2] == ["docker", "run"]]
    assert started == [(plan.run_release_command(NAMES, RELEASE, STORE), STORE.run_input())]
    deploy._retire_previous(ctx, host, outcome, NAMES, RELEASE)
    assert (plan.stop_release_command(NAMES.container(PREVIOUS)), None) in host.runs


def test_a_release_rolled_back_after_it_served_is_stopped_before_it_is_removed(host):
    with pytest.raises(CheckFailed, match="smoke test failed"):
        deploy_host(host, smoke_error="smoke test failed")
    new = NAMES.container(RELEASE.release_id)
    ends = [argv for argv, _ in host.runs if argv[-1] == new and argv[1] in ("stop", "rm")]
    assert ends[-2:] == plan.remove_release_commands(new)
