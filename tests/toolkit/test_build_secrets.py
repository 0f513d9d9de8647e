"""No build-host secret reaches an image, and the build says which base it used (issue 14, defects 4 and 9).

The proxy image (the one every target host runs) is built on a host whose apt sources and settings carry a mirror's
and a proxy's credentials, and whose plain sources carry a marker; then every layer (`docker save`), `docker
history`, `docker inspect` and the build's console output are searched for each of them.

Before the fix: sources were copied unchecked, a password holding '/' passed the settings check, the host's sources
stayed in the image's /etc/apt, and the layer holding docker/trust/ stayed under the later `rm -rf`.
"""

import io
import json
import secrets
import shutil
import tarfile
from pathlib import Path

import pytest

from ci.build_trust import TRUST_DIR, trust_files
from ci.executor import docker_engine
from ci.executor.files import sync_directory
from tests.toolkit.conftest import REPOSITORY_ROOT

TOKEN = secrets.token_hex(4)
MIRROR_PASSWORD = f"mirror-pw-{TOKEN}"
PROXY_PASSWORD = f"pa/ss-{TOKEN}"  # a '/' in it: the old check stopped at the '/'
TOKEN_IN_URL = f"ghp_planted{TOKEN}"
MARKER = f"mlci-planted-marker-{TOKEN}"  # in a file that carries no credential, so it is copied and used
PLANTED = (MIRROR_PASSWORD, PROXY_PASSWORD, TOKEN_IN_URL, MARKER)


# Where each docker/trust/ destination lives on a host.
HOST_PLACES = {"ca-certificates.crt": "etc/ssl/certs/ca-certificates.crt",
               "apt/ca/": "usr/local/share/ca-certificates/", "apt/": "etc/apt/"}


def planted_host_root(root: Path) -> Path:
    """This host's own trust files (so the build reaches its mirror), plus the planted ones."""
    for destination, source in trust_files().items():
        prefix = next(prefix for prefix in HOST_PLACES if destination.startswith(prefix))
        target = root / (HOST_PLACES[prefix] + destination.removeprefix(prefix))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    apt = root / "etc/apt"
    for directory in ("sources.list.d", "apt.conf.d"):
        (apt / directory).mkdir(parents=True, exist_ok=True)
    sources = sorted((apt / "sources.list.d").glob("*"))
    assert sources, "this host has no apt sources to build with"
    with sources[0].open("a") as first:
        first.write(f"\n# {MARKER}\n")
    (apt / "sources.list").write_text(
        f"deb http://mirror-user:{MIRROR_PASSWORD}@mlci-planted.invalid/debian bookworm main\n")
    (apt / "sources.list.d/planted-private.list").write_text(
        f"deb https://{TOKEN_IN_URL}@mlci-planted.invalid/apt stable main\n")
    (apt / "apt.conf.d/99planted-proxy").write_text(
        f'Acquire::http::Proxy::mlci-planted.invalid "http://ci:{PROXY_PASSWORD}@proxy.invalid:3128";\n')
    return root


@pytest.fixture
def planted_context(tmp_path) -> Path:
    """A build context holding what the proxy image's Dockerfile copies, its docker/trust/ from the planted host."""
    context = tmp_path / "context"
    shutil.copytree(REPOSITORY_ROOT / "docker", context / "docker", ignore=shutil.ignore_patterns("trust"))
    sync_directory(context / TRUST_DIR, trust_files(planted_host_root(tmp_path / "host")))
    return context


def found_in(data: bytes) -> list[str]:
    return [secret for secret in PLANTED if secret.encode() in data]


def test_no_planted_secret_or_marker_is_in_any_layer_history_or_metadata_of_the_proxy_image(engine, planted_context):
    base = json.loads((REPOSITORY_ROOT / "reports/build.json").read_text())["base_image"]
    tag = f"mlci-planted-proxy:{TOKEN}"
    stages = f"mlci-planted-stage-{TOKEN}"
    console: list[str] = []
    try:
        docker_engine.build_image(engine, context=planted_context, dockerfile="docker/proxy/Dockerfile", tag=tag,
                                  buildargs={"BASE_IMAGE": base}, labels={}, on_progress=console.append,
                                  stage_repository=stages)
        image = engine.images.get(tag)
        saved = b"".join(image.save())
        layers = {}
        with tarfile.open(fileobj=io.BytesIO(saved)) as archive:
            for member in archive.getmembers():
                if member.isfile() and member.name.endswith(".tar"):
                    layers[member.name] = archive.extractfile(member).read()
        assert layers, "docker save gave no layer"
        for name, layer in layers.items():
            assert found_in(layer) == [], f"layer {name} holds a planted secret"
        assert found_in(saved) == []
        history = json.dumps(engine.api.history(tag)).encode()
        assert found_in(history) == []
        assert found_in(json.dumps(image.attrs).encode()) == []
        assert found_in("\n".join(console).encode()) == []
        # And it still reached the mirror through the host's own (marked) sources: the proxy is installed.
        assert engine.containers.run(tag, entrypoint=["haproxy", "-v"], remove=True).startswith(b"HAProxy")
    finally:
        for reference in (tag, f"{stages}:proxy-packages"):
            try:
                engine.images.remove(reference, noprune=False)
            except docker_engine.NotFound:
                pass


def test_the_build_report_names_the_base_image_by_id(engine):
    # Issue 14, defect 9: the base was chosen by tag, and any local image with that tag won; the report says which.
    report = json.loads((REPOSITORY_ROOT / "reports/build.json").read_text())
    assert report["base_image_id"] == engine.images.get(report["base_image"]).id
    assert report["base_image_id"].startswith("sha256:")
