"""Deploys against real target hosts: containers running sshd and their own Docker engine, reachable only over
SSH with pinned host keys, started (and removed, with their volumes) by these fixtures. The hosts are shared by the
scenarios of a test process (tests/deploy/target_pool.py); each scenario deploys to an environment of its own."""

import io
import json
import os
import secrets
import threading
import time
from pathlib import Path

import docker
import pytest
import requests

from ci.config import CONFIG_FILE_VARIABLE
from ci.context import Context
from ci.deploy.names import EnvironmentNames
from ci.executor.target_host import TargetHost
from ci.image_builder import build_images, plan_with_base
from ci.target_host_plan import environment_toml
from model_app.dataset import example_request
from tests.deploy.target_pool import STATE_DIR, TargetPool
from tests.toolkit.conftest import repository_copy, run_ci  # noqa: F401 (fixture re-export)

FAST_DEPLOY_SETTINGS = f"""
[deploy]
state_dir = "{STATE_DIR}"
keep_releases = 3
lock_wait_seconds = 60
lock_stale_seconds = 4
health_timeout_seconds = 60  # the default: a release took 30 s to start beside other scenarios
drain_seconds = 3
probe_rate = 40
"""


@pytest.fixture(scope="session")
def engine():
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as error:  # a deploy test without an engine must fail, not skip
        pytest.fail(f"deploy tests need a Docker engine: {error}", pytrace=False)
    return client


@pytest.fixture(scope="session")
def target_image(engine) -> str:
    ctx = Context.from_environment()
    plan, _ = plan_with_base(ctx, engine)
    return build_images(ctx, engine, plan, ("target-host",))["target-host"]["reference"]


@pytest.fixture(scope="session")
def model_image() -> str:
    report = Path(__file__).resolve().parents[2] / "reports" / "build.json"
    if not report.exists():
        pytest.fail("reports/build.json is missing: run `python -m ci build` first", pytrace=False)
    return json.loads(report.read_text())["image"]


@pytest.fixture(scope="session")
def variant_image(engine, model_image):
    """Images derived from the built one: a new release (new image id), or a deliberately broken one."""
    built = []

    def variant(name: str, instructions: str) -> str:
        tag = f"ml-model-service-test:{name}-{secrets.token_hex(3)}"
        engine.images.build(fileobj=io.BytesIO(f"FROM {model_image}\n{instructions}\n".encode()), tag=tag, rm=True)
        built.append(tag)
        return tag

    yield variant
    for tag in built:
        try:
            engine.images.remove(tag, noprune=True)
        except docker.errors.APIError:
            pass


@pytest.fixture(scope="session")
def target_pool(engine, target_image, tmp_path_factory):
    pool = TargetPool(engine, target_image, tmp_path_factory.mktemp("target-pool"))
    yield pool
    pool.close()


class DeployEnvironment:
    """One scenario's environment: its repository copy, the configuration that defines it (the copy's ci.toml and the
    environment, in a file of its own: MLCI_CONFIG_FILE), hosts, deploy key, known_hosts."""

    def __init__(self, copy: Path, config_file: Path, targets: list[TargetHost], key: Path, known_hosts: Path,
                 names: EnvironmentNames, public_port: int):
        self.copy, self.config_file, self.targets, self.key, self.known_hosts = copy, config_file, targets, key, \
            known_hosts
        self.names, self.public_port = names, public_port

    @property
    def name(self) -> str:
        """The environment's name: what `ci deploy|rollback|releases --env` take."""
        return self.names.env

    @property
    def urls(self) -> list[str]:
        return [target.public_url for target in self.targets]

    def ready(self, index: int = 0) -> dict:
        return requests.get(self.urls[index] + "/ready", timeout=5).json()

    def deploy(self, *args: str, env: dict | None = None):
        return self.run("deploy", *args, env=env)

    def environ(self, extra: dict | None = None) -> dict:
        """This process's environment with the scenario's configuration file, and extra."""
        return {**os.environ, CONFIG_FILE_VARIABLE: str(self.config_file), **(extra or {})}

    def run(self, *words: str, env: dict | None = None, timeout: float = 900):
        """`ci <words> --env <this environment>` in the repository copy, env added to this environment."""
        return run_ci(self.copy, *words, "--env", self.name, env=self.environ(env), timeout=timeout)

    def report(self) -> dict:
        return json.loads((self.copy / "reports" / "deploy.json").read_text())


@pytest.fixture
def deploy_environment(target_pool, repository_copy, tmp_path):  # noqa: F811
    """A factory: an environment of its own on N target hosts, and a repository copy whose ci.toml defines it.
    The hosts are shared with other scenarios, except the last `fresh_hosts`, started for this one alone: for a
    scenario that kills or changes a host, or needs an engine that has no image yet."""
    leases = []

    def make(hosts: int = 1, known_hosts_override: str | None = None, fresh_hosts: int = 0) -> DeployEnvironment:
        lease = target_pool.lease(f"test-{secrets.token_hex(3)}", hosts, fresh_hosts)
        leases.append(lease)
        known_hosts = tmp_path / f"{lease.names.env}-known_hosts"
        known_hosts.write_text(known_hosts_override if known_hosts_override is not None else
                               "".join(target.known_hosts_entry + "\n" for target in lease.targets))
        copy = repository_copy()
        # Not in the copy's ci.toml: that file goes into the test-runner image, which each deploy's smoke test
        # builds; unchanged, every scenario's build is the same image, from cache.
        config_file = copy / "ci.test.toml"
        config_file.write_text((copy / "ci.toml").read_text() + FAST_DEPLOY_SETTINGS + environment_toml(
            lease.names.env, [str(target.address) for target in lease.targets],
            [target.public_url for target in lease.targets], lease.public_port, str(target_pool.key_file),
            str(known_hosts)))
        return DeployEnvironment(copy, config_file, lease.targets, target_pool.key_file, known_hosts, lease.names,
                                 lease.public_port)

    yield make
    for lease in leases:
        target_pool.give_back(lease)


# Requests per second each client sends: 4 clients make 100 a second, ~30 in a traffic switch's 0.3 s and one in
# flight on every keep-alive connection at any moment. Unpaced, they made 300 a second and took two thirds of a
# core (measured 2026-12-03) from the deploys they watch, on a 2-core machine running three scenarios at once.
CLIENT_RATE = 25


class Load:
    """Keep-alive clients posting to a public URL until stopped, each at `rate` requests a second and each request
    with an id of its own (`<phase>-<client>-<sequence>`): counts every failure and remembers every id a release
    answered with 200."""

    def __init__(self, url: str, clients: int = 4, phase: str | None = None, rate: float = CLIENT_RATE):
        self.url, self.phase, self.interval = url, phase or f"load-{secrets.token_hex(3)}", 1 / rate
        self.sent = 0
        self.failures: list[str] = []
        self.answered: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client, args=(number,), daemon=True)
                         for number in range(clients)]
        self._lock = threading.Lock()

    def __enter__(self) -> "Load":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)

    def _client(self, number: int) -> None:
        body = example_request()
        deadline = time.monotonic() + 600
        due = time.monotonic()
        with requests.Session() as session:
            for sequence in range(10**9):
                if self._stop.wait(max(0.0, due - time.monotonic())) or time.monotonic() > deadline:
                    return
                due = max(due + self.interval, time.monotonic() - self.interval)
                request_id = f"{self.phase}-{number}-{sequence}"
                try:
                    response = session.post(self.url + "/predict", json=body, timeout=10,
                                            headers={"X-Request-ID": request_id})
                    failure = None if response.status_code == 200 else f"HTTP {response.status_code}"
                except requests.RequestException as error:
                    failure = type(error).__name__
                with self._lock:
                    self.sent += 1
                    if failure:
                        self.failures.append(failure)
                    else:
                        self.answered.append(request_id)


PREDICTION_FIELDS = {"request_id", "created_at", "model_version", "record_count", "inputs", "outputs", "latency_ms"}


def exported_ids(environment: "DeployEnvironment", *args: str) -> list[str]:
    """The request ids `ci predictions export` gives for the environment, each line checked to be a whole prediction
    (the deploy's own probe and smoke test predicted too)."""
    result = environment.run("predictions", "export", *args, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert all(set(line) == PREDICTION_FIELDS and line["record_count"] == len(line["inputs"]) == len(line["outputs"])
               for line in lines)
    return [line["request_id"] for line in lines]
