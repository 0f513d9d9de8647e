"""What a killed test or benchmark run leaves: its target hosts carry their owner process's token
(ci/target_host_plan.py OWNER_LABEL), and the next run removes those whose owner is gone, never a live run's
and never the local pipeline's (no owner: meant to stay)."""

import secrets
import signal
import subprocess
import sys

import docker
import pytest

from ci.executor import process
from ci.executor.target_host import remove_orphaned_target_hosts, target_volume
from ci.target_host_plan import target_host_labels


def gone_owner() -> str:
    """The owner token of a process that ran and has ended."""
    child = subprocess.Popen(["sleep", "30"])
    token = f"{child.pid}:{process.process_start_time(child.pid)}"
    child.kill()
    child.wait()
    return token


@pytest.fixture
def host_like(engine, target_image):
    """A target host's container and engine volume as start_target_host labels them, created but never started
    (the sweep reads labels only)."""
    made = []

    def make(owner: str) -> str:
        name = f"mlci-test-orphan-{secrets.token_hex(3)}"
        labels = target_host_labels("ml-model-service", "test-orphans", owner)
        engine.volumes.create(target_volume(name), labels={key: value for key, value in labels.items()
                                                           if key in ("io.mlci.run", "io.mlci.owner")})
        engine.containers.create(target_image, name=name, labels=labels, command=["true"],
                                 volumes={target_volume(name): {"bind": "/var/lib/docker", "mode": "rw"}})
        made.append(name)
        return name

    yield make
    for name in made:
        for remove in (lambda: engine.containers.get(name).remove(force=True),
                       lambda: engine.volumes.get(target_volume(name)).remove(force=True)):
            try:
                remove()
            except docker.errors.NotFound:
                pass


def present(engine, name: str) -> tuple[bool, bool]:
    def exists(get) -> bool:
        try:
            get()
            return True
        except docker.errors.NotFound:
            return False
    return (exists(lambda: engine.containers.get(name)),
            exists(lambda: engine.volumes.get(target_volume(name))))


def test_hosts_of_a_killed_run_go_and_hosts_of_a_live_run_or_the_local_pipeline_stay(engine, host_like):
    orphan = host_like(gone_owner())
    live = host_like(process.owner_token())
    local_pipeline = host_like("")
    removed = remove_orphaned_target_hosts(engine)
    assert orphan in removed and target_volume(orphan) not in removed  # the volume went with its host
    assert present(engine, orphan) == (False, False)
    assert present(engine, live) == (True, True)
    assert present(engine, local_pipeline) == (True, True)
    assert live not in removed and local_pipeline not in removed


HOLDING_TEST = '''
import time


def test_holds_a_pooled_host(target_pool):
    target_pool.lease("test-held")
    print("HOLDING", flush=True)
    time.sleep(600)
'''


def test_a_terminated_test_run_removes_its_pooled_hosts(engine, tmp_path):
    # As Jenkins aborts a build (SIGTERM to its processes): the session's pool is torn down, nothing is left.
    from ci.workspace import copy_workspace
    copy = copy_workspace(tmp_path / "repo", with_build_report=True)
    (copy / "tests" / "deploy" / "test_held.py").write_text(HOLDING_TEST)
    run = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "0", "-s", "-q",
                            "tests/deploy/test_held.py"], cwd=copy, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, start_new_session=True)
    try:
        seen = []
        for line in run.stdout:
            seen.append(line)
            if "HOLDING" in line:
                break
        owner = f"{run.pid}:{process.process_start_time(run.pid)}"
        held = engine.containers.list(all=True, filters={"label": f"io.mlci.owner={owner}"})
        assert held, "".join(seen)[-2000:]
        run.send_signal(signal.SIGTERM)
        output = run.communicate(timeout=120)[0]
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode != 0
    assert not engine.containers.list(all=True, filters={"label": f"io.mlci.owner={owner}"}), output[-2000:]
    assert not engine.volumes.list(filters={"label": f"io.mlci.owner={owner}"}), output[-2000:]
