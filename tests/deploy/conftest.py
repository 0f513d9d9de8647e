"""Deploys against real target hosts: containers running sshd and their own Docker engine, reachable only over
SSH with pinned host keys, started (and removed, with their volumes) by these fixtures."""

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

from ci.context import Context
from ci.executor.target_host import start_local_environment, stop_local_environment
from ci.image_builder import build_images, plan_with_base
from model_app.dataset import example_request
from tests.toolkit.conftest import repository_copy, run_ci  # noqa: F401 (fixture re-export)

ENVIRONMENT = "test"
FAST_DEPLOY_SETTINGS = """
[deploy]
state_dir = "/var/lib/mlci"
keep_releases = 3
lock_wait_seconds = 60
lock_stale_seconds = 4
health_timeout_seconds = 30
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


class DeployEnvironment:
    def __init__(self, copy: Path, targets: list, key: Path, known_hosts: Path):
        self.copy, self.targets, self.key, self.known_hosts = copy, targets, key, known_hosts

    @property
    def urls(self) -> list[str]:
        return [target.public_url for target in self.targets]

    def ready(self, index: int = 0) -> dict:
        return requests.get(self.urls[index] + "/ready", timeout=5).json()

    def deploy(self, *args: str, env: dict | None = None):
        return self.run("deploy", *args, env=env)

    def run(self, command: str, *args: str, env: dict | None = None):
        """`ci <command> --env test <args>` in the repository copy, with env added to this process's environment."""
        return run_ci(self.copy, command, "--env", ENVIRONMENT, *args, env={**os.environ, **(env or {})},
                      timeout=900)

    def report(self) -> dict:
        return json.loads((self.copy / "reports" / "deploy.json").read_text())


@pytest.fixture
def deploy_environment(engine, target_image, repository_copy, tmp_path):  # noqa: F811
    """A factory: N fresh target hosts and a repository copy whose ci.toml has [environments.test] for them."""
    started = []

    def make(hosts: int = 1, known_hosts_override: str | None = None) -> DeployEnvironment:
        run = secrets.token_hex(3)
        local = start_local_environment(engine, project="ml-model-service", image=target_image,
                                        workdir=tmp_path / f"targets-{run}", hosts=hosts,
                                        name_prefix=f"mlci-test-target-{run}", run_label=f"test-{run}")
        started.extend(local.targets)
        if known_hosts_override is not None:
            local.known_hosts_file.write_text(known_hosts_override)
        copy = repository_copy()
        with (copy / "ci.toml").open("a") as config:
            config.write(FAST_DEPLOY_SETTINGS + local.toml(ENVIRONMENT, public_port=8080))
        return DeployEnvironment(copy, local.targets, local.key_file, local.known_hosts_file)

    yield make
    stop_local_environment(engine, started)


class Load:
    """Keep-alive clients posting to a public URL until stopped; counts every failure and which releases answered."""

    def __init__(self, url: str, clients: int = 4):
        self.url = url
        self.sent = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]
        self._lock = threading.Lock()

    def __enter__(self) -> "Load":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)

    def _client(self) -> None:
        body = example_request()
        deadline = time.monotonic() + 600
        with requests.Session() as session:
            while not self._stop.is_set() and time.monotonic() < deadline:
                try:
                    response = session.post(self.url + "/predict", json=body, timeout=10)
                    failure = None if response.status_code == 200 else f"HTTP {response.status_code}"
                except requests.RequestException as error:
                    failure = type(error).__name__
                with self._lock:
                    self.sent += 1
                    if failure:
                        self.failures.append(failure)
                time.sleep(0.01)
