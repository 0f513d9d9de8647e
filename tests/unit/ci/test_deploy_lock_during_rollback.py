"""The hosts' own deploy lock is held, its heartbeat beating, for as long as a failed deploy rolls back: after a
Jenkins abort the step fails and the stage's Jenkins lock is released while the detached worker still rolls back,
so the next build's deploy (which may get the Jenkins lock) must find the hosts locked and wait. Orchestration only:
fake SSH hosts record what `ci deploy` runs on them (no Docker, no SSH); tests/deploy covers the real hosts."""

import threading
import time
from types import SimpleNamespace

import pytest

from ci.build_plan import PROXY
from ci.commands import deploy
from ci.config import Config, DeployConfig
from ci.context import Context
from ci.deploy.plan import Release
from ci.errors import CheckFailed, UserError
from ci.identity import BuildIdentity

ROLLBACK_SECONDS = 1.6
HOSTS = ("deploy@10.0.0.5:22", "deploy@10.0.0.6:22")  # as str(HostAddress) prints them


class Events:
    def __init__(self):
        self.items: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def add(self, host: str, what: str) -> None:
        with self.lock:
            self.items.append((host, what))

    def index(self, host: str, what: str, last: bool = False) -> int:
        found = [i for i, item in enumerate(self.items) if item == (host, what)]
        assert found, f"{what} never happened on {host}: {self.items}"
        return found[-1] if last else found[0]


def kind_of(argv) -> str:
    """What a remote command is, read from ci/deploy/lock.py's lock commands (acquire, heartbeat, release)."""
    text = " ".join(argv)
    if "mkdir -p" in text and "/lock" in text:
        return "lock acquired"
    if "then rm -rf" in text and "/lock" in text:
        return "lock released"
    if "grep -q" in text and "/heartbeat" in text:
        return "heartbeat"
    return "other"


class FakeHost:
    def __init__(self, address, key_file, known_hosts_file, events: Events):
        self.address, self.events = address, events

    def run(self, argv, check=True, timeout=None, input_bytes=None):
        self.events.add(str(self.address), kind_of(argv))
        return SimpleNamespace(returncode=0, stdout="", stderr="")

    def text(self, argv) -> str:
        return ""

    def close(self) -> None:
        pass


class SlowTraffic:
    """Switching back takes a while (drain, health), as a real rollback does."""

    def __init__(self, host: str, events: Events):
        self.host, self.events = host, events

    def slot_serving(self, container: str) -> str:
        return "green"

    def switch_to(self, container, old_slot, timeout, drain_seconds) -> None:
        self.events.add(self.host, "rollback started")
        time.sleep(ROLLBACK_SECONDS)
        self.events.add(self.host, "rollback done")


@pytest.fixture
def deploying(tmp_path, monkeypatch):
    events = Events()
    # Heartbeat every 0.5 s (stale after 2 s): several beats fall inside the rollback.
    config = Config(deploy=DeployConfig(lock_stale_seconds=2, lock_wait_seconds=5, drain_seconds=0))
    config.environments["staging"] = SimpleNamespace(hosts=HOSTS, public_urls=("http://a", "http://b"),
                                                     local_target=False, public_port=8080, batch_size=1,
                                                     database_url_variable="")
    ctx = Context(root=tmp_path, config=config, environ={"BUILD_TAG": "jenkins-x-42"})
    ctx.__dict__["identity"] = BuildIdentity(commit="0" * 40, branch="main", build_number="42", git_tag="",
                                             dirty=False, run_id="jenkins-x-42")
    ctx.__dict__["report_run"] = "jenkins-x-42"
    release = Release(release_id="20260101T000000-abc", image_id="sha256:1", digest="sha256:1", model_version="1",
                      commit="0" * 40)
    monkeypatch.setattr(deploy, "release_for", lambda ctx, image, now: (release, {"pull_reference": "",
                                                                                  "registry": ""}))
    monkeypatch.setattr(deploy.docker_engine, "connect", lambda: None)
    monkeypatch.setattr(deploy, "plan_with_base", lambda ctx, client: (None, None))
    monkeypatch.setattr(deploy, "build_images", lambda ctx, client, plan, names: {PROXY: {"image_id": "p"}})
    monkeypatch.setattr(deploy, "ssh_credentials", lambda environment, environ, root: SimpleNamespace(
        key_file="k", known_hosts_file="kh", cleanup=lambda: None))
    monkeypatch.setattr(deploy, "SshHost", lambda address, key, known: FakeHost(address, key, known, events))

    def deploy_host(ctx, session, outcome, *rest):
        # The first host switches to the new release; the second fails its smoke test.
        if str(session.address) == HOSTS[1]:
            raise CheckFailed(f"{session.address}: smoke test failed")
        outcome.previous, outcome.result = "20251231T000000-old", "switched"
        return SlowTraffic(str(session.address), events), "blue"

    monkeypatch.setattr(deploy, "_deploy_host", deploy_host)
    return ctx, events


def test_the_hosts_lock_is_held_and_kept_alive_until_the_rollback_has_finished(deploying):
    ctx, events = deploying
    with pytest.raises(UserError, match="failed and was rolled back"):
        deploy.run(SimpleNamespace(env="staging", image=None, approved_by="", dry_run=False, if_configured=False),
                   ctx)
    first = HOSTS[0]
    started, done = events.index(first, "rollback started"), events.index(first, "rollback done")
    assert events.index(first, "lock acquired") < started
    beats = [i for i, item in enumerate(events.items) if item == (first, "heartbeat") and started < i < done]
    assert len(beats) >= 2, f"the lock's heartbeat stopped during the rollback: {events.items}"
    for host in HOSTS:
        assert events.index(host, "lock released") > done, "a host's lock was released before the rollback ended"
