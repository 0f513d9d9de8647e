"""The deploy scenarios' shared target hosts (tests/deploy/target_pool.py), with the engine calls replaced by fakes."""

import pytest

from ci.errors import CannotRun
from ci.executor.target_host import TargetHost
from ci.ssh_plan import HostAddress
from tests.deploy import target_pool
from tests.deploy.target_pool import FIRST_PUBLIC_PORT, TargetPool


class FakeEngine:
    def __init__(self):
        self.running: list[str] = []
        self.removed_environments: list[tuple[str, str]] = []
        self.broken: set[str] = set()

    def start(self, client, names, public_port, environment_ports, **kwargs):
        started = []
        for name in names:
            self.running.append(name)
            number = len(self.running)  # host n publishes its public ports at 10000 * n + port
            urls = {port: f"http://127.0.0.1:{10000 * number + port}"
                    for port in range(public_port, public_port + environment_ports)}
            started.append(TargetHost(name, HostAddress("root", "127.0.0.1", 2200 + number), urls[public_port],
                                      f"[127.0.0.1]:{2200 + number} ssh-ed25519 KEY", f"{name}-docker", urls))
        return started

    def stop(self, client, targets):
        for target in targets:
            self.running.remove(target.name)

    def remove_environment(self, client, target, names):
        if target.name in self.broken:
            raise CannotRun("dockerd is not running")
        self.removed_environments.append((target.name, names.env))


@pytest.fixture
def engine(monkeypatch, tmp_path):
    fake = FakeEngine()
    monkeypatch.setattr(target_pool, "start_target_hosts", fake.start)
    monkeypatch.setattr(target_pool, "stop_local_environment", fake.stop)
    monkeypatch.setattr(target_pool, "remove_environment", fake.remove_environment)
    monkeypatch.setattr(target_pool, "remove_orphaned_target_hosts", lambda client: [])
    monkeypatch.setattr(target_pool, "load_or_generate_key", lambda workdir: (workdir / "deploy_key", "ssh-ed25519 K"))
    return fake


def test_scenarios_share_the_hosts_and_each_environment_is_removed_when_it_ends(engine, tmp_path):
    pool = TargetPool(None, "target:1", tmp_path)
    first = pool.lease("test-a")
    assert [target.public_url for target in first.targets] == [f"http://127.0.0.1:{10000 + FIRST_PUBLIC_PORT}"]
    second = pool.lease("test-b", hosts=2)  # one more host; the first is shared, at another public port
    assert len(engine.running) == 2 and second.targets[0].name == first.targets[0].name
    assert first.public_port == FIRST_PUBLIC_PORT and second.public_port == FIRST_PUBLIC_PORT + 1
    assert [target.public_url for target in second.targets] == [f"http://127.0.0.1:{10000 + FIRST_PUBLIC_PORT + 1}",
                                                                f"http://127.0.0.1:{20000 + FIRST_PUBLIC_PORT + 1}"]
    pool.give_back(first)
    pool.give_back(second)
    assert engine.removed_environments == [(first.targets[0].name, "test-a"), (first.targets[0].name, "test-b"),
                                           (second.targets[1].name, "test-b")]
    assert pool.lease("test-c").public_port == FIRST_PUBLIC_PORT  # its port is free again
    assert second.names.paths.base == "/var/lib/mlci/ml-model-service/test-b"
    pool.close()
    assert engine.running == []


def test_fresh_hosts_are_the_scenarios_own_and_removed_whole(engine, tmp_path):
    pool = TargetPool(None, "target:1", tmp_path)
    lease = pool.lease("test-a", hosts=2, fresh=1)
    assert len(pool.shared) == 1 and [target.name for target in lease.fresh] == [lease.targets[1].name]
    pool.give_back(lease)
    assert engine.running == [lease.targets[0].name]
    assert engine.removed_environments == [(lease.targets[0].name, "test-a")]
    with pytest.raises(ValueError):
        pool.lease("test-b", hosts=1, fresh=2)


def test_a_shared_host_whose_environment_cannot_be_removed_is_retired_and_replaced(engine, tmp_path):
    pool = TargetPool(None, "target:1", tmp_path)
    lease = pool.lease("test-a")
    engine.broken.add(lease.targets[0].name)  # e.g. a scenario killed its engine
    pool.give_back(lease)
    assert engine.running == [] and pool.shared == []
    assert pool.lease("test-b").targets[0].name != lease.targets[0].name
