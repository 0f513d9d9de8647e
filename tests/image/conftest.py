"""Fixtures that run the image under test (MODEL_IMAGE) as real containers on the Docker engine.

Without an engine or an image this tier fails loudly: a skipped integration tier must never look green.
"""

import io
import os
import secrets
import tarfile
import time

import docker
import pytest
import requests

TEST_LABEL = "io.mlci.test-run"
RUN_ID = secrets.token_hex(4)


@pytest.fixture(scope="session")
def docker_client():
    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except Exception as error:  # any failure to reach the engine must fail the tier, not skip it
        pytest.fail(f"the integration tier needs a Docker engine: {error}", pytrace=False)
    yield client
    for container in client.containers.list(all=True, filters={"label": f"{TEST_LABEL}={RUN_ID}"}, ignore_removed=True):
        container.remove(force=True, v=True)


@pytest.fixture(scope="session")
def image(docker_client):
    reference = os.environ.get("MODEL_IMAGE")
    if not reference:
        pytest.fail("MODEL_IMAGE is not set: run this tier through `python -m ci test integration`", pytrace=False)
    try:
        docker_client.images.get(reference)
    except docker.errors.ImageNotFound:
        pytest.fail(f"image {reference} is not present: run `python -m ci build`", pytrace=False)
    return reference


class Service:
    def __init__(self, container, url):
        self.container = container
        self.url = url

    def logs(self) -> str:
        return self.container.logs().decode(errors="replace")

    def post_json(self, path, payload, **kwargs):
        return requests.post(self.url + path, json=payload, timeout=10, **kwargs)


@pytest.fixture
def start_service(docker_client, image):
    started = []

    def start(environment=None, read_only=True, replace_files=None, wait_ready=True) -> Service:
        container = docker_client.containers.create(
            image, detach=True, environment=environment or {}, labels={TEST_LABEL: RUN_ID},
            ports={"8000/tcp": ("127.0.0.1", None)}, read_only=read_only,
            tmpfs={"/data": "rw,size=16m,uid=10001,gid=10001"} if read_only else {},
        )
        started.append(container)
        for path, content in (replace_files or {}).items():
            container.put_archive(os.path.dirname(path), _tar_of(os.path.basename(path), content))
        container.start()
        container.reload()
        port = container.attrs["NetworkSettings"]["Ports"]["8000/tcp"][0]["HostPort"]
        service = Service(container, f"http://127.0.0.1:{port}")
        _wait_for(service, "/ready" if wait_ready else "/health")
        return service

    yield start
    for container in started:
        container.remove(force=True, v=True)


def _wait_for(service: Service, path: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(service.url + path, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        service.container.reload()
        if service.container.status == "exited":
            break
        time.sleep(0.1)
    pytest.fail(f"{path} never answered 200; container log:\n{service.logs()}", pytrace=False)


def _tar_of(name: str, content: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo(name)
        info.size = len(content)
        info.mode = 0o644
        archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def read_file_from(container, path: str) -> bytes:
    stream, _ = container.get_archive(path)
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
        member = archive.getmembers()[0]
        return archive.extractfile(member).read()


def extract_dir_from(container, path: str, destination) -> None:
    stream, _ = container.get_archive(path)
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
        archive.extractall(destination, filter="data")
