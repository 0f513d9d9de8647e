"""The integration tier runs in the runner container of the Compose stack: the model service (the image under
test) at MODEL_URL and PostgreSQL at DATABASE_URL are really running. Without them the tier fails, never skips.

Some cases need a service that is deliberately broken or stopped: those start the image's own server code
(`python -m model_app.serve`, the same code and artifact, installed in the runner) as a subprocess.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import requests

from model_app.dataset import load_split
from model_app.features import FEATURE_NAMES


def _required(variable: str) -> str:
    value = os.environ.get(variable, "")
    if not value:
        pytest.fail(f"{variable} is not set: run this tier through `python -m ci test integration`", pytrace=False)
    return value


@pytest.fixture(scope="session")
def model_url() -> str:
    url = _required("MODEL_URL").rstrip("/")
    try:
        requests.get(f"{url}/ready", timeout=10).raise_for_status()
    except requests.RequestException as error:
        pytest.fail(f"the model service at {url} is not ready: {error}", pytrace=False)
    return url


@pytest.fixture(scope="session")
def database_url() -> str:
    url = _required("DATABASE_URL")
    try:
        psycopg.connect(url, connect_timeout=10).close()
    except psycopg.Error as error:
        pytest.fail(f"PostgreSQL is not reachable: {error}", pytrace=False)
    return url


@pytest.fixture(scope="session")
def eval_records() -> list[dict]:
    split = load_split()
    return [{name: float(value) for name, value in zip(FEATURE_NAMES, row)} for row in split.eval_features]


@pytest.fixture(scope="session")
def eval_labels() -> list[int]:
    return [int(label) for label in load_split().eval_labels]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServerProcess:
    def __init__(self, process: subprocess.Popen, url: str, log_path: Path):
        self.process = process
        self.url = url
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 20) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)


@pytest.fixture
def model_copy(tmp_path) -> Path:
    """A private copy of the artifact the runner carries (the same one the image serves)."""
    destination = tmp_path / "model"
    shutil.copytree(os.environ.get("MODEL_DIR", "build/model"), destination)
    return destination


@pytest.fixture
def spawn_server(tmp_path):
    servers = []

    def spawn(model_dir: Path, environment: dict | None = None, wait_for: str = "/ready") -> ServerProcess:
        port = free_port()
        log_path = tmp_path / f"server-{port}.log"
        # The runner's own DATABASE_URL is not inherited: a server logs to PostgreSQL only when a test asks.
        env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
        env.update({"MODEL_DIR": str(model_dir), "HOST": "127.0.0.1", "PORT": str(port),
                    "PREDICTION_LOG_PATH": str(tmp_path / f"predictions-{port}.sqlite"), **(environment or {})})
        with log_path.open("wb") as log:
            process = subprocess.Popen([sys.executable, "-m", "model_app.serve"], env=env, stdout=log,
                                       stderr=subprocess.STDOUT)
        server = ServerProcess(process, f"http://127.0.0.1:{port}", log_path)
        servers.append(server)
        _wait_until(server, wait_for)
        return server

    yield spawn
    for server in servers:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()


def _wait_until(server: ServerProcess, path: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"the server exited early:\n{server.log()}", pytrace=False)
        try:
            if requests.get(server.url + path, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    pytest.fail(f"{path} never answered 200:\n{server.log()}", pytrace=False)
