"""The deploy and rollback sequence, every branch, against fake hosts (tests/unit/ci/deploy_fakes.py): no Docker,
no SSH. What only real hosts show is in tests/deploy."""

import json
from types import SimpleNamespace

import pytest

from ci.build_plan import PROXY
from ci.commands import deploy, rollback
from ci.config import Config, DeployConfig
from ci.context import Context
from ci.deploy import plan
from ci.deploy.names import EnvironmentNames
from ci.deploy.plan import Release
from ci.deploy.predictions import PredictionStore
from ci.errors import UserError
from ci.identity import BuildIdentity
from ci.ssh_plan import HostAddress
from tests.unit.ci.deploy_fakes import FakeHost

HOSTS = ("deploy@10.0.0.5:22", "deploy@10.0.0.6:22")
OLD = Release("20260101T000000-0000000000aa", "sha256:aa", "sha256:aa", "1.0.0+old", "a" * 40)
NEW = Release("20260102T000000-0000000000bb", "sha256:bb", "sha256:bb", "1.0.0+new", "b" * 40)


class Probe:
    def __init__(self, url):
        self.sent, self.failed, self.errors = 10, 0, []

    def start(self):
        return self

    def stop(self):
        pass


class World:
    """Fake hosts, a context whose deploys reach them, and the reports and audit logs to read back."""

    def __init__(self, tmp_path, monkeypatch, hosts=HOSTS, batch_size=1, grace=0):
        self.tmp_path = tmp_path
        state = str(tmp_path / "state")
        self.hosts = {text: FakeHost(HostAddress.parse(text), state_dir=(state, str(tmp_path / f"host-{index}")))
                      for index, text in enumerate(hosts)}
        self.smoke_problem: dict[str, str] = {}
        self.release = OLD
        self.environ = {"BUILD_TAG": "jenkins-x-42"}
        config = Config(deploy=DeployConfig(state_dir=str(tmp_path / "state"), lock_stale_seconds=2,
                                            lock_wait_seconds=5, drain_seconds=0, health_timeout_seconds=2,
                                            rollback_grace_seconds=grace))
        config.environments["staging"] = SimpleNamespace(
            hosts=hosts, public_urls=tuple(f"http://{i}" for i in range(len(hosts))), local_target=False,
            public_port=8080, batch_size=batch_size, image_transfer="stream", database_url_variable="")
        self.ctx = Context(root=tmp_path, config=config, environ=self.environ)
        self.ctx.__dict__["identity"] = BuildIdentity(commit="0" * 40, branch="main", build_number="42", git_tag="",
                                                      dirty=False, run_id="jenkins-x-42")
        self.ctx.__dict__["report_run"] = "jenkins-x-42"
        for module in (deploy, rollback):
            monkeypatch.setattr(module, "SshHost", lambda address, key, known: self.hosts[str_host(address)])
            monkeypatch.setattr(module, "ssh_credentials", lambda environment, environ, root: SimpleNamespace(
                key_file="k", known_hosts_file="kh", cleanup=lambda: None))
        monkeypatch.setattr(deploy, "release_for", lambda ctx, image, now: (self.release, {
            "pull_reference": "", "registry": ""}))
        monkeypatch.setattr(deploy.docker_engine, "connect", lambda: None)
        monkeypatch.setattr(deploy, "plan_with_base", lambda ctx, client: (None, None))
        monkeypatch.setattr(deploy, "build_images", lambda ctx, client, plan, names: {PROXY: {"image_id": "p"}})
        monkeypatch.setattr(deploy, "CutoverProbe", lambda url, body, rate: Probe(url))
        monkeypatch.setattr(deploy, "_smoke", lambda url, cancelled: self.smoke_problem.get(url, ""))

    def deploy(self, release: Release):
        self.release = release
        return deploy.run(SimpleNamespace(env="staging", image=None, approved_by="alice", dry_run=False,
                                          if_configured=False), self.ctx)

    def rollback(self, to: str | None = None):
        return rollback.run(SimpleNamespace(env="staging", release=to), self.ctx)

    def report(self, name="deploy.json") -> dict:
        return json.loads((self.tmp_path / "reports" / name).read_text())

    def state(self, index: int = 0):
        return self.tmp_path / f"host-{index}" / "ml-model-service" / "staging"

    def audit(self, index: int | None = None) -> list[dict]:
        """One host's audit records, or every host's (host by host)."""
        indexes = range(len(self.hosts)) if index is None else [index]
        return [json.loads(line) for i in indexes
                for line in (self.state(i) / "audit.log").read_text().splitlines() if line.strip()]

    def current(self, index: int = 0) -> str:
        return (self.state(index) / "current").read_text()

    def host(self, index: int) -> FakeHost:
        return self.hosts[HOSTS[index]] if len(self.hosts) > 1 else next(iter(self.hosts.values()))


def str_host(address) -> str:
    return f"{address.user}@{address.host}:{address.port}"


def container(release: Release) -> str:
    return f"ml-model-service-staging-{release.release_id}"


@pytest.fixture
def world(tmp_path, monkeypatch):
    return World(tmp_path, monkeypatch)


@pytest.fixture
def one_host(tmp_path, monkeypatch):
    return World(tmp_path, monkeypatch, hosts=HOSTS[:1])


def test_a_first_deploy_then_an_upgrade_switch_every_host_and_record_it(world):
    world.deploy(OLD)
    world.deploy(NEW)
    for index in range(2):
        assert world.host(index).serving() == [container(NEW)]
    assert world.current() == NEW.release_id
    assert world.report()["result"] == "success"
    assert [(r["action"], r["release"], r["result"]) for r in world.audit()][-1] == (
        "deploy", NEW.release_id, "success")


def test_a_failure_in_the_second_batch_rolls_the_first_back(world):
    world.deploy(OLD)
    world.host(1).broken_images.add(NEW.image_id)  # never healthy on host 2
    with pytest.raises(UserError, match="rolled back"):
        world.deploy(NEW)
    for index in range(2):
        assert world.host(index).serving() == [container(OLD)], f"host {index} does not serve the old release"
        assert container(NEW) not in world.host(index).running()
    assert [h["result"] for h in world.report()["hosts"]] == ["rolled back", "rolled back"]
    assert world.current() == OLD.release_id


@pytest.mark.parametrize("step", ["proxy", "reconcile", "image", "start", "health", "switch", "smoke", "record"])
def test_an_unexpected_exception_at_any_step_rolls_back_and_records_every_host(world, step):
    """Defect 4: only UserError and KeyboardInterrupt were handled; anything else skipped rollback, the report and
    the audit record."""
    world.deploy(OLD)
    world.environ["CI_DEPLOY_FAULT"] = f"{step}:raise@1"
    with pytest.raises(UserError, match="unexpected InjectedFault"):
        world.deploy(NEW)
    for index in range(2):
        assert world.host(index).serving() == [container(OLD)]
    report = world.report()
    assert report["result"] == "failed" and "InjectedFault" in report["reason"]
    records = [world.audit(index)[-1] for index in range(2)]
    assert [(r["host"], r["release"]) for r in records] == [(host, NEW.release_id) for host in HOSTS]
    assert all(r["result"] in ("rolled back", "not deployed") for r in records), records
    assert world.current() == OLD.release_id


@pytest.mark.parametrize("step", ["proxy", "reconcile", "image", "start", "health", "switch", "smoke", "record"])
def test_sigterm_at_any_step_undoes_every_touched_host_then_exits_interrupted(world, step):
    """Defect 5: an abort mid-batch left a half-switched host and a false audit record."""
    world.deploy(OLD)
    world.environ["CI_DEPLOY_FAULT"] = f"{step}:term@1"
    with pytest.raises(KeyboardInterrupt):
        world.deploy(NEW)
    for index in range(2):
        assert world.host(index).serving() == [container(OLD)]
        assert container(NEW) not in world.host(index).running()
    assert world.report()["result"] == "interrupted"
    records = [world.audit(index)[-1] for index in range(2)]
    assert [(r["release"], r["result"] in ("rolled back", "not deployed")) for r in records] == [
        (NEW.release_id, True)] * 2, records
    assert not (world.state(0) / "lock").exists() and not (world.state(1) / "lock").exists()


def test_hosts_are_undone_newest_first(world):
    world.deploy(OLD)
    world.smoke_problem["http://1"] = "smoke test failed: [FAIL] predict"
    with pytest.raises(UserError):
        world.deploy(NEW)
    host_1_back = max(i for i, argv in enumerate(world.host(0).log)
                      if "state ready" in " ".join(argv) or argv[3:5] == ["mlci-proxy", "switch"])
    assert world.host(0).serving() == [container(OLD)]
    assert world.host(1).serving() == [container(OLD)]
    assert host_1_back  # host 1 switched back after host 2 had (host 2 was undone first: it failed last)


def test_a_deploy_reconciles_a_proxy_that_routes_another_release_than_the_record(one_host):
    """Defect 5's sequel: a killed deploy left the proxy routing its release while `current` said the old one; the
    next deploy took the "first release" path and never drained it, and two releases served."""
    one_host.deploy(OLD)
    stray = Release("20260101T120000-0000000000cc", "sha256:cc", "sha256:cc", "1.0.0+stray", "c" * 40)
    one_host.deploy(stray)
    (one_host.state() / "current").write_text(OLD.release_id)
    one_host.deploy(NEW)
    assert one_host.host(0).serving() == [container(NEW)]
    notes = one_host.report()["hosts"][0]["notes"]
    assert any("the proxy routes" in note and stray.release_id in note for note in notes), notes


def test_a_half_done_switch_is_drained_before_the_deploy(one_host):
    one_host.deploy(OLD)
    host = one_host.host(0)
    other = one_host.release = Release("20260101T120000-0000000000cc", "sha256:cc", "sha256:cc", "x", "c" * 40)
    one_host.deploy(other)
    (one_host.state() / "current").write_text(OLD.release_id)
    host.containers[container(OLD)].running = True
    idle = next(name for name, slot in host.slots.items() if slot.admin == "maint")
    host.slots[idle].addr, host.slots[idle].admin = host.containers[container(OLD)].ip, "ready"
    assert len(host.serving()) == 2
    one_host.deploy(NEW)
    assert host.serving() == [container(NEW)]


def test_a_proxy_changed_by_hand_is_refused_before_anything_changes(one_host):
    one_host.deploy(OLD)
    host = one_host.host(0)
    serving = next(slot for slot in host.slots.values() if slot.admin == "ready")
    serving.addr = "10.9.9.9"
    host.containers["hand-made"] = SimpleNamespace(name="hand-made", ip="10.9.9.9", running=True, healthy_after=1,
                                                   image="x", labels={}, created=0, polls=0)
    with pytest.raises(UserError, match="changed by hand"):
        one_host.deploy(NEW)
    assert container(NEW) not in host.containers
    assert not host.commands(NEW.image_id)


def test_a_rollback_within_the_grace_period_is_a_proxy_switch(tmp_path, monkeypatch):
    world = World(tmp_path, monkeypatch, hosts=HOSTS[:1], grace=600)
    world.deploy(OLD)
    world.deploy(NEW)
    host = world.host(0)
    assert container(OLD) in host.running(), "the previous release was stopped despite the grace period"
    assert host.commands("retiring-" + OLD.release_id)
    world.rollback()
    assert host.serving() == [container(OLD)]
    assert not host.commands("docker start")
    assert world.current() == OLD.release_id


def test_a_rollback_after_the_grace_period_starts_the_retained_release(one_host):
    one_host.deploy(OLD)
    one_host.deploy(NEW)
    host = one_host.host(0)
    assert container(OLD) not in host.running()
    one_host.rollback()
    assert host.serving() == [container(OLD)]
    assert host.commands("docker start")
    assert one_host.audit()[-1]["action"] == "rollback" and one_host.audit()[-1]["result"] == "success"


def test_a_rollback_that_fails_its_health_check_leaves_the_current_release_serving(one_host):
    one_host.deploy(OLD)
    one_host.deploy(NEW)
    host = one_host.host(0)
    host.containers[container(OLD)].healthy_after = -1
    with pytest.raises(UserError, match="still serves what it served before"):
        one_host.rollback()
    assert host.serving() == [container(NEW)]
    assert container(OLD) not in host.running()
    assert one_host.current() == NEW.release_id


def test_a_cut_connection_is_recorded_as_not_undone_and_the_next_deploy_repairs(one_host):
    one_host.deploy(OLD)
    host = one_host.host(0)
    one_host.environ["CI_DEPLOY_FAULT"] = "smoke:cut"
    with pytest.raises(UserError, match="NOT fully rolled back"):
        one_host.deploy(NEW)
    assert one_host.report()["hosts"][0]["result"] == "rollback failed"
    host.failures.clear()
    del one_host.environ["CI_DEPLOY_FAULT"]
    newer = Release("20260103T000000-0000000000dd", "sha256:dd", "sha256:dd", "1.0.0+newer", "d" * 40)
    one_host.deploy(newer)
    assert host.serving() == [container(newer)]


@pytest.mark.parametrize("action", ["raise", "term", "cut"])
@pytest.mark.parametrize("step", ["lock", "reconcile", "target", "start", "health", "switch", "record"])
def test_a_fault_at_any_step_of_a_rollback_leaves_one_release_serving(one_host, step, action):
    one_host.deploy(OLD)
    one_host.deploy(NEW)
    host = one_host.host(0)
    one_host.environ["CI_DEPLOY_FAULT"] = f"{step}:{action}"
    with pytest.raises((UserError, KeyboardInterrupt)):
        one_host.rollback()
    assert len(host.serving()) == 1, host.serving()
    if action != "cut":  # a cut host keeps whatever its last command left: old or new, one of them
        assert host.serving() == [container(NEW)]
        assert one_host.current() == NEW.release_id
        assert json.loads((one_host.tmp_path / "reports" / "rollback.json").read_text())["result"] in (
            "failed", "interrupted")


def test_the_release_starts_with_its_stores_stdin_and_the_old_one_is_stopped_with_the_plans_timeout(
        one_host, monkeypatch):
    """The prediction log's store reaches the release on docker run's stdin (a PostgreSQL URL never in argv), and
    every stop gives a release the time to drain its queue (ci/deploy/plan.py stop_release_command)."""
    store = PredictionStore("postgresql://predictions:s3cr3t@db/predictions")
    monkeypatch.setattr(deploy, "prediction_store_for", lambda environment, env, environ: store)
    one_host.deploy(OLD)
    one_host.deploy(NEW)
    host = one_host.host(0)
    names = EnvironmentNames("ml-model-service", "staging", str(one_host.tmp_path / "state"))
    started = [(argv, stdin) for argv, stdin in host.inputs if argv[:2] == ["docker", "run"]]
    assert started[-1] == (plan.run_release_command(names, NEW, store), store.run_input())
    assert not any("s3cr3t" in " ".join(argv) for argv in host.log)
    assert plan.stop_release_command(container(OLD)) in host.log


def test_a_release_rolled_back_after_it_served_is_stopped_before_it_is_removed(one_host):
    one_host.deploy(OLD)
    one_host.smoke_problem["http://0"] = "smoke test failed: [FAIL] predict"
    with pytest.raises(UserError, match="smoke test failed"):
        one_host.deploy(NEW)
    ends = [argv for argv in one_host.host(0).log if argv[-1] == container(NEW) and argv[1] in ("stop", "rm")]
    assert ends[-2:] == plan.remove_release_commands(container(NEW))


def test_the_switch_is_one_call_and_a_proxy_of_an_older_toolkit_is_switched_step_by_step(one_host):
    one_host.deploy(OLD)
    host = one_host.host(0)
    assert [argv[4] for argv in host.commands("mlci-proxy") if argv[3:4] == ["mlci-proxy"]].count("switch") == 1
    host.old_proxy_helper = True  # its helper knows no `switch`: the deploy falls back to one call per step
    one_host.deploy(NEW)
    assert host.serving() == [container(NEW)]
    lines = [argv[-1] for argv in host.commands("mlci-proxy api")]
    assert any(line.startswith("set server model/") and "state ready; set server" in line for line in lines)
