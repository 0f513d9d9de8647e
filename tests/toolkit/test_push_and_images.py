"""`ci push` against a real registry (Debian's docker-registry on loopback), and `ci images prune`."""

import io
import json
import os
import secrets
import socket
import time

import bcrypt
import docker
import pytest
import requests

from ci.executor import docker_engine
from ci.executor.registry import LocalRegistry
from tests.toolkit.conftest import run_ci

MANIFEST_TYPES = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("registry")
    password = secrets.token_urlsafe(16)
    htpasswd = workdir / "htpasswd"
    htpasswd.write_text("pusher:" + bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode() + "\n")
    local = LocalRegistry(f"127.0.0.1:{free_port()}", workdir, htpasswd).start()
    yield {"address": local.address, "username": "pusher", "password": password}
    local.stop()


def push_env(registry: dict, **overrides) -> dict:
    return {**os.environ, "MLCI_REGISTRY_ADDRESS": registry["address"], "REGISTRY_USERNAME": registry["username"],
            "REGISTRY_PASSWORD": registry["password"], **overrides}


def untag_registry_copies(engine, address: str) -> None:
    """Remove the registry's tags and digest references from local images (the image itself stays if tagged)."""
    for image in engine.images.list():
        for reference in image.tags + image.attrs.get("RepoDigests", []):
            if reference.startswith(address + "/"):
                try:
                    engine.images.remove(reference)
                except docker.errors.ImageNotFound:
                    pass  # the digest reference went with the image's last registry tag


def own_release(engine, copy) -> str:
    """Make the copy's build report name an image of this test's own (the built one plus a label: a new image id,
    the same layers), so that removing it and pulling it back never touches the image the other tests use."""
    report_path = copy / "reports" / "build.json"
    report = json.loads(report_path.read_text())
    tag = f"ml-model-service-test:push-{secrets.token_hex(4)}"
    engine.images.build(fileobj=io.BytesIO(f"FROM {report['image']}\nLABEL io.mlci.test={tag}\n".encode()),
                        tag=tag, rm=True)
    report["image"] = tag
    report_path.write_text(json.dumps(report))
    return tag


def test_push_then_pull_by_digest_gives_the_same_runnable_labelled_image(engine, registry, repository_copy):
    copy = repository_copy()
    image = own_release(engine, copy)
    try:
        result = run_ci(copy, "push", env=push_env(registry))
        assert result.returncode == 0, result.stderr[-2000:]
        assert registry["password"] not in result.stdout + result.stderr
        report = json.loads((copy / "reports" / "build.json").read_text())
        pushed = report["push"]
        # The registry itself serves that digest for every tag.
        for tag in report["tags"]:
            response = requests.get(f"http://{registry['address']}/v2/ml-model-service/manifests/{tag}", timeout=10,
                                    auth=(registry["username"], registry["password"]),
                                    headers={"Accept": MANIFEST_TYPES})
            assert response.headers["Docker-Content-Digest"] == pushed["digest"]

        original = engine.images.get(image)
        # Every reference goes (the test's tag, the registry's tags): only then is the pull a real download.
        # noprune keeps the parents: the built image and its layers stay for the other tests.
        for tag in original.tags:
            engine.images.remove(tag, noprune=True)
        assert not _present(engine, original.id)
        pulled = engine.images.pull(pushed["image_by_digest"],
                                    auth_config={"username": registry["username"], "password": registry["password"]})
        assert pulled.id == original.id
        labels = pulled.labels
        assert labels["io.mlci.model.version"].startswith("1.0.0+")
        assert float(labels["io.mlci.model.metric.accuracy"]) >= 0.9
        assert labels["org.opencontainers.image.revision"] == report["revision"]

        container = engine.containers.run(pushed["image_by_digest"], detach=True, read_only=True,
                                          tmpfs={"/data": "uid=10001,gid=10001"},
                                          ports={"8000/tcp": ("127.0.0.1", None)})
        try:
            container.reload()
            port = container.attrs["NetworkSettings"]["Ports"]["8000/tcp"][0]["HostPort"]
            assert _ready(f"http://127.0.0.1:{port}/ready")
        finally:
            container.remove(force=True, v=True)
    finally:
        untag_registry_copies(engine, registry["address"])
        if _present(engine, image):
            engine.images.remove(image, noprune=True)


def _present(engine, reference: str) -> bool:
    try:
        engine.images.get(reference)
        return True
    except docker.errors.ImageNotFound:
        return False


def _ready(url: str, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.2)
    return False


def test_a_wrong_password_is_a_clear_error_that_never_shows_it(engine, registry, repository_copy):
    wrong = "not-the-" + secrets.token_hex(6)
    result = run_ci(repository_copy(), "push", env=push_env(registry, REGISTRY_PASSWORD=wrong))
    assert result.returncode == 2, result.stderr[-2000:]
    assert "refused the credentials in REGISTRY_USERNAME/REGISTRY_PASSWORD" in result.stderr
    assert wrong not in result.stdout + result.stderr


def test_a_registry_that_is_down_fails_clearly_after_its_retries(engine, repository_copy):
    address = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "MLCI_REGISTRY_ADDRESS": address, "MLCI_REGISTRY_PUSH_ATTEMPTS": "3",
           "MLCI_REGISTRY_RETRY_BACKOFF_SECONDS": "0.2", "MLCI_REGISTRY_LOCAL": "false"}
    try:
        result = run_ci(repository_copy(), "push", env=env)
    finally:
        untag_registry_copies(engine, address)
    assert result.returncode == 3, result.stderr[-2000:]
    assert f"push to {address} failed after 3 attempts" in result.stderr
    assert "connection refused" in result.stderr
    assert result.stderr.count("retrying in") == 2


def test_push_starts_the_local_registry_and_down_stops_it(engine, repository_copy):
    copy = repository_copy()
    address = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "MLCI_REGISTRY_ADDRESS": address, "MLCI_REGISTRY_LOCAL": "true",
           "MLCI_PROJECT_NAME": f"local-registry-test-{secrets.token_hex(3)}"}
    try:
        pushed = run_ci(copy, "push", env=env)
        assert pushed.returncode == 0, pushed.stderr[-2000:]
        assert f"starting the local registry at {address}" in pushed.stderr
        digest = json.loads((copy / "reports" / "build.json").read_text())["push"]["digest"]
        manifest = requests.head(f"http://{address}/v2/ml-model-service/manifests/{digest}", timeout=5, headers={
            "Accept": "application/vnd.docker.distribution.manifest.v2+json, "
                      "application/vnd.oci.image.manifest.v1+json"})
        assert manifest.status_code == 200
        again = run_ci(copy, "push", env=env)
        assert again.returncode == 0 and "starting the local registry" not in again.stderr, again.stderr[-2000:]
    finally:
        stopped = run_ci(copy, "down", env=env)
        untag_registry_copies(engine, address)
    assert stopped.returncode == 0, stopped.stderr[-2000:]
    assert f"the local registry at {address}" in stopped.stderr
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://{address}/v2/", timeout=2)


def test_prune_keeps_the_newest_images_per_branch_of_this_project_only(engine, repository_copy):
    project = f"prune-test-{secrets.token_hex(3)}"
    base = json.loads((repository_copy() / "reports" / "build.json").read_text())["base_image"]
    built = []

    def build(branch: str, number: int) -> str:
        dockerfile = f"FROM {base}\nLABEL io.mlci.project={project} io.mlci.branch={branch} " \
                     f"io.mlci.image-role=model test.number={number}\n"
        image, _ = engine.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=f"{project}:{branch}-{number}",
                                       rm=True)
        built.append(f"{project}:{branch}-{number}")
        time.sleep(1.1)  # distinct creation times
        return image.id

    try:
        for number in range(3):
            build("main", number)
        build("feature", 0)
        result = run_ci(repository_copy(), "images", "prune", "--keep", "1",
                        env={**os.environ, "MLCI_PROJECT_NAME": project})
        assert result.returncode == 0, result.stderr[-2000:]
        remaining = {tag for image in engine.images.list(filters={"label": f"io.mlci.project={project}"})
                     for tag in image.tags}
        assert remaining == {f"{project}:main-2", f"{project}:feature-0"}
        assert _present(engine, base), "prune must never touch images outside the project"
    finally:
        for tag in built:
            if _present(engine, tag):
                engine.images.remove(tag)


def test_a_rebuild_of_the_same_source_is_the_same_image_and_a_changed_one_leaves_nothing_behind(engine, monkeypatch):
    # The created label is the source's date (ci/build_plan.py source_date): the same source builds the same image,
    # so nothing moves. A change moves the tag to a new image, and the image it moved off must not stay, untagged
    # (an agent building every push would fill its disk). A project of its own: the images it replaces are not the
    # ones the other tests use.
    from ci.context import Context
    from ci.image_builder import build_images, plan_with_base
    project = f"rebuild-test-{secrets.token_hex(3)}"
    monkeypatch.setenv("MLCI_PROJECT_NAME", project)
    monkeypatch.setenv("MLCI_IMAGE_POSTGRES_REPOSITORY", f"{project}-postgres")

    def build(source_date: int) -> str:
        monkeypatch.setenv("SOURCE_DATE_EPOCH", str(source_date))
        ctx = Context.from_environment()
        plan, _ = plan_with_base(ctx, engine)
        return build_images(ctx, engine, plan, ("postgres",))["postgres"]["image_id"]

    first = build(1_700_000_000)
    try:
        untagged = {image.id for image in engine.images.list(filters={"dangling": True})}
        assert build(1_700_000_000) == first
        second = build(1_700_000_001)
        assert second != first
        with pytest.raises(docker.errors.ImageNotFound):
            engine.images.get(first)
        assert engine.images.get(second).tags
        assert not {image.id for image in engine.images.list(filters={"dangling": True})
                    if image.labels.get("io.mlci.project") == project} - untagged
    finally:
        for image in engine.images.list(filters={"label": f"io.mlci.project={project}"}):
            docker_engine.remove_image_tags(engine, image.id, tuple(image.tags))  # parents only if no build runs
