"""Zero-downtime switching through the proxy image on the local engine: two releases of the model image behind
HAProxy, switched back and forth under constant keep-alive load with exactly the commands ci/deploy/proxy.py returns,
and a restarted or replaced proxy coming back routing to the active release.

Only 127.0.0.1 and the containers started here are contacted; everything started here is removed afterwards.
"""

import json
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
import requests
from docker.errors import NotFound

from ci.deploy import proxy
from ci.build_trust import TRUST_DIR, trust_files
from ci.executor import docker_engine
from ci.executor.files import sync_directory
from model_app.dataset import load_split
from model_app.features import FEATURE_NAMES

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
RUN_ID = secrets.token_hex(4)
TEST_LABEL = "io.mlci.test-run"
RELEASE_PORT = 8000
CLIENTS = 8
SWITCHES = 4  # A→B, B→A, A→B, B→A
COMMAND_TIMEOUT = 60


def run(argv: list[str], timeout: float = COMMAND_TIMEOUT) -> str:
    """Run one argv list as given (no shell), as the deploy module will; fail the test with its output."""
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        pytest.fail(f"{argv} exited {result.returncode}:\n{result.stdout}{result.stderr}", pytrace=False)
    return result.stdout


@pytest.fixture(scope="module")
def build_report() -> dict:
    path = REPOSITORY_ROOT / "reports" / "build.json"
    if not path.exists():
        pytest.fail("reports/build.json is missing: run `python -m ci build` first", pytrace=False)
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def proxy_image(engine, build_report):
    # The same build-host trust `ci build` hands to apt-install, so the build reaches the mirror the host reaches.
    sync_directory(REPOSITORY_ROOT / TRUST_DIR, trust_files(), keep=("README.md",))
    tag = f"ml-model-service-proxy:test-{RUN_ID}"
    docker_engine.build_image(engine, context=REPOSITORY_ROOT, dockerfile="docker/proxy/Dockerfile", tag=tag,
                              buildargs={"BASE_IMAGE": build_report["base_image"]}, labels={TEST_LABEL: RUN_ID},
                              on_progress=lambda line: None)
    yield tag
    # noprune: only this tag's image goes; the cached build steps stay for the next run.
    engine.images.remove(tag, noprune=True)


@pytest.fixture(scope="module")
def network(engine, request) -> str:
    name = f"mlci-proxytest-{RUN_ID}"
    request.addfinalizer(lambda: _remove_network(engine, name))
    run(proxy.network_create_command(name, {TEST_LABEL: RUN_ID}))
    run(proxy.network_exists_command(name))
    return name


@pytest.fixture(scope="module")
def releases(engine, network, build_report, request) -> dict[str, str]:
    """Two containers of the model image on the network, no published port: release id -> IP on the network."""
    addresses = {}
    for release in ("a", "b"):
        name = f"mlci-proxytest-{RUN_ID}-{release}"
        request.addfinalizer(lambda name=name: _remove_container(engine, name))
        engine.containers.run(build_report["image"], name=name, detach=True, network=network, read_only=True,
                              tmpfs={"/data": "uid=10001,gid=10001"}, environment={"RELEASE_ID": release},
                              labels={TEST_LABEL: RUN_ID})
        addresses[release] = run(proxy.container_ip_command(name, network)).strip()
    return addresses


class Proxy:
    def __init__(self, name: str, image: str, network: str, state_dir: Path):
        self.name, self.image, self.network, self.state_dir = name, image, network, state_dir

    def start(self) -> None:
        run(proxy.proxy_run_command(self.name, {TEST_LABEL: RUN_ID}, self.image, 0, self.network, str(self.state_dir),
                                    "127.0.0.1"))
        self.wait_for_api()

    def url(self) -> str:
        # Published on a random loopback port, which a restart may change: asked each time.
        host_port = run(["docker", "port", self.name, f"{proxy.PROXY_CONTAINER_PORT}/tcp"]).split()[0]
        assert host_port.startswith("127.0.0.1:")
        return f"http://{host_port}"

    def states(self) -> dict[str, dict]:
        return proxy.parse_servers_state(run(proxy.show_servers_state_command(self.name)))

    def stat(self, proxy_name: str, object_type: int) -> dict[str, dict]:
        """`show stat` rows of one proxy section (type 1 frontend, 2 backend, 4 servers) by svname."""
        lines = run(proxy.runtime_api_command(self.name, f"show stat {proxy_name} {object_type} -1")).splitlines()
        header = lines[0][2:].split(",")
        return {row["svname"]: row for row in (dict(zip(header, line.split(","))) for line in lines[1:] if line)}

    def wait_for_api(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            probe = subprocess.run(proxy.show_servers_state_command(self.name), capture_output=True, timeout=30)
            if probe.returncode == 0:
                return
            time.sleep(0.2)
        logs = subprocess.run(["docker", "logs", "--tail", "30", self.name], capture_output=True, text=True)
        pytest.fail(f"the proxy's runtime API never answered:\n{logs.stdout}{logs.stderr}", pytrace=False)

    def wait_until(self, condition, what: str, timeout: float = 30) -> dict[str, dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = self.states()
            if condition(states):
                return states
            time.sleep(0.05)
        pytest.fail(f"{what} within {timeout:.0f}s; last state: {states}", pytrace=False)

    def switch_to(self, slot: str, ip: str) -> dict[str, float]:
        """The cutover of ci/deploy/proxy.py's docstring; returns how long its parts took (seconds)."""
        old = proxy.other_slot(slot)
        old_serving = old in proxy.serving_slots(self.states())
        started = time.monotonic()
        for command in proxy.point_slot_commands(self.name, slot, ip, RELEASE_PORT):
            run(command)
        run(proxy.probe_slot_command(self.name, slot))
        probing = time.monotonic()
        self.wait_until(lambda states: proxy.slot_is_up(states, slot), f"slot {slot} ({ip}) never came UP")
        up = time.monotonic()
        if old_serving:
            # One runtime API line: never a moment with both slots taking new requests (nor neither).
            run(proxy.swap_slots_command(self.name, slot, old))
        else:
            run(proxy.ready_slot_command(self.name, slot))
        ready = time.monotonic()
        if old_serving:
            self.wait_until(lambda states: proxy.slot_is_drained(states, old), f"slot {old} never drained")
            run(proxy.maint_slot_command(self.name, old))
        drained = time.monotonic()
        run(proxy.persist_state_command(self.name))
        return {"point": probing - started, "probe_to_up": up - probing, "ready": ready - up,
                "drain_to_maint": drained - ready, "total": time.monotonic() - started}

    def switch_in_one_call(self, slot: str, ip: str) -> dict[str, float]:
        """The same cutover as the deployer runs it: one call of the helper's `switch` (proxy.switch_command)."""
        old = proxy.other_slot(slot)
        old_serving = old in proxy.serving_slots(self.states())
        started = time.monotonic()
        done = run(proxy.switch_command(self.name, slot, old if old_serving else "", ip, RELEASE_PORT, 30, 30)).split()
        assert done == ["pointed", "up", "switched", *(["drained"] if old_serving else []), "persisted"], done
        return {"total": time.monotonic() - started}


@pytest.fixture(scope="module")
def proxy_container(engine, proxy_image, network, request) -> Proxy:
    state_dir = Path(tempfile.mkdtemp(prefix="mlci-proxy-state-"))
    request.addfinalizer(lambda: shutil.rmtree(state_dir, ignore_errors=True))
    if os.geteuid() == 0:
        run(proxy.state_dir_command(str(state_dir)))
    else:
        # state_dir_command chowns to the proxy's user, which needs root; an unprivileged run opens the directory.
        state_dir.chmod(0o777)
    started = Proxy(f"mlci-proxytest-{RUN_ID}-proxy", proxy_image, network, state_dir)
    request.addfinalizer(lambda: _remove_container(engine, started.name))
    started.start()
    return started


@pytest.fixture(scope="module")
def record() -> dict:
    split = load_split()
    return {name: float(value) for name, value in zip(FEATURE_NAMES, split.eval_features[0])}


class Load:
    """Keep-alive clients posting one record each, as fast as they can, until stopped (or a hard deadline)."""

    def __init__(self, url: str, record: dict, clients: int, max_seconds: float):
        self.url, self.body = url + "/predict", {"records": [record]}
        self.started = time.monotonic()
        self.deadline = self.started + max_seconds
        self.seconds = 0.0
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.succeeded = 0
        self.failures: list[str] = []
        self.threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)
        self.seconds = time.monotonic() - self.started

    def _client(self) -> None:
        with requests.Session() as session:
            while not self.stop.is_set() and time.monotonic() < self.deadline:
                try:
                    response = session.post(self.url, json=self.body, timeout=10)
                    outcome = "" if response.status_code == 200 else f"{response.status_code} {response.text[:200]}"
                except requests.RequestException as error:
                    outcome = repr(error)
                with self.lock:
                    if outcome:
                        self.failures.append(outcome)
                    else:
                        self.succeeded += 1


def predictions_served(engine, release: str) -> int:
    """The predictions a release container itself counted (its /metrics, read from inside it)."""
    script = ("import urllib.request;"
              f"print(urllib.request.urlopen('http://127.0.0.1:{RELEASE_PORT}/metrics', timeout=5).read().decode())")
    result = engine.containers.get(f"mlci-proxytest-{RUN_ID}-{release}").exec_run(["python", "-c", script])
    assert result.exit_code == 0, result.output.decode(errors="replace")
    return round(sum(float(line.rsplit(" ", 1)[1]) for line in result.output.decode().splitlines()
                     if line.startswith("model_predictions_total{")))


def test_switching_slots_under_load_fails_no_request(engine, proxy_container, releases, record):
    box = proxy_container
    box.switch_to("blue", releases["a"])
    assert proxy.serving_slots(box.states()) == ["blue"]
    served_before = {release: predictions_served(engine, release) for release in releases}
    connections_before = int(box.stat("public", 1)["FRONTEND"]["conn_tot"])

    timings = []
    active_release = "a"
    with Load(box.url(), record, CLIENTS, max_seconds=120) as load:
        time.sleep(1)
        for _ in range(SWITCHES):
            states = box.states()
            slot = proxy.other_slot(proxy.serving_slots(states)[0])
            active_release = "b" if active_release == "a" else "a"
            requests_before = states[slot]["total_requests"]
            # Every other switch as the deployer makes it (one call), the others step by step (its fallback for a
            # proxy started by an older toolkit).
            switch = box.switch_in_one_call if len(timings) % 2 else box.switch_to
            timings.append(switch(slot, releases[active_release]))
            # The new release really takes the traffic before the next switch moves it away again.
            box.wait_until(lambda states: states[slot]["total_requests"] > requests_before + 50,
                           f"no traffic reached slot {slot}", timeout=15)
            assert proxy.serving_slots(box.states()) == [slot]
            time.sleep(0.5)
        time.sleep(1)
    seconds = load.seconds
    served = {release: predictions_served(engine, release) - served_before[release] for release in releases}
    backend = box.stat("model", 2)["BACKEND"]
    connections = int(box.stat("public", 1)["FRONTEND"]["conn_tot"]) - connections_before
    print(f"\n[proxy switch] {load.succeeded} requests in {seconds:.1f}s ({load.succeeded / seconds:.0f}/s) from "
          f"{CLIENTS} keep-alive clients over {connections} connections, {len(load.failures)} failed; "
          f"served by release a: {served['a']}, b: {served['b']}; backend retries {backend['wretr']}, "
          f"redispatches {backend['wredis']}, connection errors {backend['econ']}, response errors {backend['eresp']}")
    for key in ("point", "probe_to_up", "ready", "drain_to_maint", "total"):
        values = [timing[key] for timing in timings if key in timing]
        print(f"[proxy switch] {key}: min {min(values):.2f}s, max {max(values):.2f}s, "
              f"mean {sum(values) / len(values):.2f}s over {len(values)} switches (health check inter 200ms, rise 1)")

    assert load.failures == [], f"{len(load.failures)} failed requests, first ones: {load.failures[:5]}"
    assert load.succeeded > 500
    # Every 200 came from exactly one of the two releases: none lost, none answered twice.
    assert served["a"] > 0 and served["b"] > 0
    assert served["a"] + served["b"] == load.succeeded
    # No switch closed a client connection (keep-alive clients would have reconnected silently).
    assert connections == CLIENTS
    # And nothing was papered over by HAProxy retrying: no request was ever sent where it could not be served.
    assert (backend["wretr"], backend["wredis"], backend["econ"], backend["eresp"]) == ("0", "0", "0", "0")


def test_a_switch_whose_check_never_passes_changes_nothing_that_serves(proxy_container, releases):
    box = proxy_container
    serving = proxy.serving_slots(box.states())
    assert len(serving) == 1
    idle = proxy.other_slot(serving[0])
    # An address on the network where nothing listens: HAProxy's check can never pass.
    result = subprocess.run(proxy.switch_command(box.name, idle, serving[0], "172.31.254.254", RELEASE_PORT, 1, 1),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == proxy.SWITCH_CHECK_NEVER_PASSED, result.stdout + result.stderr
    assert result.stdout.split() == ["pointed"] and "never passed" in result.stderr
    assert proxy.serving_slots(box.states()) == serving
    run(proxy.maint_slot_command(box.name, idle))


@pytest.mark.parametrize("how", ["restart", "replace"])
def test_a_restarted_proxy_routes_to_the_active_slot(engine, proxy_container, releases, record, how):
    box = proxy_container
    states = box.states()
    if proxy.serving_slots(states) != ["green"]:
        box.switch_to("green", releases["b"])
    persisted = (box.state_dir / "haproxy.cfg").read_text().splitlines()
    server_lines = {line.split()[1]: line.strip() for line in persisted if line.strip().startswith("server ")}
    assert server_lines["green"] == f"server green {releases['b']}:{RELEASE_PORT}"
    assert server_lines["blue"].endswith(" disabled")

    if how == "restart":
        run(["docker", "restart", box.name])  # what the engine's restart policy does after a crash or reboot
        box.wait_for_api()
    else:
        _remove_container(engine, box.name)  # what an upgrade of the proxy image does
        box.start()
    states = box.wait_until(lambda states: proxy.serving_slots(states) == ["green"], "green not serving after " + how)
    assert states["green"]["addr"] == releases["b"]
    assert states["blue"]["admin_state"] == "maint"

    url = box.url()
    deadline = time.monotonic() + 30
    while True:
        try:
            response = requests.get(url + "/ready", timeout=2)
            break
        except requests.ConnectionError:
            assert time.monotonic() < deadline, f"the proxy at {url} never accepted a connection after {how}"
            time.sleep(0.1)
    assert response.status_code == 200
    served_before = predictions_served(engine, "b")
    for _ in range(5):
        assert requests.post(url + "/predict", json={"records": [record]}, timeout=10).status_code == 200
    assert predictions_served(engine, "b") - served_before == 5
    assert box.states()["blue"]["total_requests"] == 0  # counters restart with the process; blue took nothing
    assert engine.containers.get(box.name).attrs["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"


def test_why_a_slot_is_probed_in_drain_and_never_made_ready_straight_from_maint(engine, proxy_container, releases):
    """HAProxy 2.6 counts a server leaving maintenance as UP before any check: probe_slot_command exists for that."""
    box = proxy_container
    idle = proxy.other_slot(proxy.serving_slots(box.states())[0]) if proxy.serving_slots(box.states()) else "green"
    nothing_listens = 9
    try:
        for command in proxy.point_slot_commands(box.name, idle, releases["a"], nothing_listens):
            run(command)
        # `ready` and the state in one line: the answer shows the state before the first check could run.
        answer = run(proxy.runtime_api_command(
            box.name, f"set server {proxy.BACKEND}/{idle} state ready; show servers state {proxy.BACKEND}; "
                      f"show stat {proxy.BACKEND} 4 -1"))
        assert proxy.parse_servers_state(answer)[idle]["operational_state"] == "UP"
        run(proxy.maint_slot_command(box.name, idle))

        run(proxy.probe_slot_command(box.name, idle))
        time.sleep(2.5)  # more than two check intervals
        states = box.states()
        assert states[idle]["operational_state"] == "DOWN"
        assert states[idle]["check_status"] == "L4CON"
        assert idle not in proxy.serving_slots(states)
    finally:
        run(proxy.maint_slot_command(box.name, idle))


def test_the_proxy_image_is_non_root_and_reports_healthy(engine, proxy_container):
    container = engine.containers.get(proxy_container.name)
    assert container.attrs["Config"]["User"] == "10002:10002"
    deadline = time.monotonic() + 30
    while container.attrs["State"].get("Health", {}).get("Status") != "healthy":
        assert time.monotonic() < deadline, f"proxy health: {container.attrs['State'].get('Health')}"
        time.sleep(0.5)
        container.reload()


def _remove_container(engine, name: str) -> None:
    try:
        engine.containers.get(name).remove(force=True, v=True)
    except NotFound:  # already gone, or never started
        pass


def _remove_network(engine, name: str) -> None:
    for network in engine.networks.list(names=[name]):
        network.remove()
