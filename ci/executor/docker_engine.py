"""A thin adapter over the Docker SDK: the only module that talks to the engine for images and containers.

The engine is whatever DOCKER_HOST names (local socket by default, ssh:// for a remote host), so
switching engines is configuration, not code.
"""

import contextlib
import fcntl
import hashlib
import io
import re
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import docker
import requests
from docker.errors import APIError, BuildError, DockerException, ImageNotFound, NotFound

from ci.errors import CannotRun, CheckFailed

ENGINE_TIMEOUT_SECONDS = 120


def connect() -> docker.DockerClient:
    try:
        client = docker.from_env(timeout=ENGINE_TIMEOUT_SECONDS)
        client.ping()
    except (DockerException, requests.RequestException) as error:
        raise CannotRun(
            f"the Docker engine is unreachable ({_short(error)}); run `python -m ci setup` or set DOCKER_HOST"
        ) from None
    return client


def engine_reachable() -> bool:
    try:
        docker.from_env(timeout=5).ping()
    except (DockerException, requests.RequestException):
        return False
    return True


def image_present(client: docker.DockerClient, reference: str) -> bool:
    try:
        client.images.get(reference)
    except ImageNotFound:
        return False
    return True


def try_pull(client: docker.DockerClient, reference: str) -> str:
    """Pull an image; returns '' on success or the registry's reason on failure (no registry is fine)."""
    repository, _, tag = reference.rpartition(":") if ":" in reference.split("/")[-1] else (reference, "", "latest")
    try:
        client.images.pull(repository, tag=tag)
    except (APIError, requests.RequestException) as error:
        return _short(error)
    return ""


def import_rootfs(client: docker.DockerClient, tarball: Path, reference: str) -> None:
    repository, _, tag = reference.rpartition(":")
    with tarball.open("rb") as source:
        client.api.import_image_from_data(source, repository=repository, tag=tag)


# Removing an image with its untagged parents races a build on the same engine: the build may have just found a
# cached parent whose only child is being removed, and fails with "unknown parent image ID". So every build of this
# machine's processes holds a shared lock on the engine's lock file, and a removal prunes parents only with the
# lock exclusive (no build running); one that cannot get it in PRUNE_WAIT_SECONDS removes the image alone.
PRUNE_WAIT_SECONDS = 60


def _engine_lock_file(client: docker.DockerClient, name: str = "") -> Path:
    key = hashlib.sha256(f"{client.api.base_url} {name}".encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"mlci-engine-{key}.lock"


@contextlib.contextmanager
def _engine_lock(client: docker.DockerClient, exclusive: bool, wait_seconds: float, name: str = "") -> Iterator[bool]:
    """Yields whether the lock is held (False: not within wait_seconds, or no lock file can be opened here)."""
    try:
        handle = open(_engine_lock_file(client, name), "a")
    except OSError:
        yield False
        return
    with handle:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(handle, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
                held = True
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    held = False
                    break
                time.sleep(0.2)
        try:
            yield held
        finally:
            if held:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _building(client: docker.DockerClient):
    """Held while a build runs (shared: builds run side by side)."""
    return _engine_lock(client, exclusive=False, wait_seconds=float("inf"))


def _no_build_running(client: docker.DockerClient, wait_seconds: float | None = None):
    wait = PRUNE_WAIT_SECONDS if wait_seconds is None else wait_seconds
    return _engine_lock(client, exclusive=True, wait_seconds=wait)


def one_build_of(client: docker.DockerClient, reference: str):
    """Held while this process builds, tags and replaces one reference: two processes building the same source at
    once would each run its steps (no cache yet) and make two images, one left untagged; the second waits for the
    first and builds from its cache, the same image."""
    return _engine_lock(client, exclusive=True, wait_seconds=float("inf"), name=reference)


def build_image(client: docker.DockerClient, *, context: Path, dockerfile: str, tag: str,
                buildargs: dict[str, str], labels: dict[str, str],
                on_progress: Callable[[str], None], target: str | None = None,
                stage_repository: str | None = None) -> str:
    """Build with the engine's builder, streaming its steps; returns the image id.

    The legacy builder leaves the last image of every stage but the target's untagged and childless: the cache of
    that stage, which the next build of the same source reuses. With stage_repository each is tagged
    `<stage_repository>:<stage>` (so nothing the build made is left untagged), and the image that tag named before
    goes with the parents only it had (a step whose input changed); parents the new tip shares stay, the cache.

    A failed build raises CheckFailed carrying the builder's own message.
    """
    with _building(client):
        image_id, stage_tips = _build(client, context, dockerfile, tag, buildargs, labels, on_progress, target)
    if stage_repository:
        _name_stage_tips(client, stage_repository, stage_tips)
    return image_id


STAGE_LINE = re.compile(r"^Step \d+/\d+ : FROM \S+ AS (?P<stage>[A-Za-z0-9._-]+)\s*$", re.IGNORECASE)
IMAGE_LINE = re.compile(r"^ ---> (?P<id>[0-9a-f]{12})$")


def stage_tips_of(lines: list[str]) -> dict[str, str]:
    """{stage: short id of its last image} of a legacy build's output, for every stage but the last one built."""
    tips, stage, last = {}, None, None
    for line in lines:
        started = STAGE_LINE.match(line)
        if started:
            if stage and last:
                tips[stage] = last
            stage, last = started["stage"], None
        elif (image := IMAGE_LINE.match(line)) and stage:
            last = image["id"]
    return tips


def _name_stage_tips(client: docker.DockerClient, repository: str, tips: dict[str, str]) -> None:
    # Not while another build runs (it may be about to use the image a tag moves off); then they stay untagged.
    with _no_build_running(client, wait_seconds=0) as alone:
        if not alone:
            return
        replaced = set()
        for stage, short_id in tips.items():
            tag = stage.lower()
            previous = image_ids(client, [f"{repository}:{tag}"])
            try:
                image = client.images.get(short_id)
            except NotFound:
                continue
            image.tag(repository, tag=tag)
            replaced |= previous - {image.id}
        # One listing for every stage: a tip a tag moved off goes if nothing else names or builds on it.
        dangling = {leftover.id for leftover in client.images.list(filters={"dangling": True})} if replaced else set()
        for previous in replaced & dangling:
            try:
                client.images.remove(previous, noprune=False)
            except APIError:
                pass  # gone already, or in use after all: the next build's turn


def _build(client, context: Path, dockerfile: str, tag: str, buildargs: dict[str, str], labels: dict[str, str],
           on_progress: Callable[[str], None], target: str | None) -> tuple[str, dict[str, str]]:
    stream = client.api.build(
        path=str(context), dockerfile=dockerfile, tag=tag, buildargs=buildargs, labels=labels,
        rm=True, forcerm=True, pull=False, decode=True, target=target,
    )
    image_id = ""
    recent_output: list[str] = []
    lines: list[str] = []
    for chunk in stream:
        if "error" in chunk:
            detail = "\n".join(recent_output[-15:])
            raise CheckFailed(f"image build failed: {chunk['error'].strip()}" + (f"\n{detail}" if detail else ""))
        line = chunk.get("stream", "").rstrip()
        if line.startswith("Step "):
            on_progress(line if len(line) <= 110 else line[:107] + "...")
        elif line:
            recent_output.append(line)
        lines += [part.rstrip() for part in chunk.get("stream", "").splitlines()
                  if part.startswith(("Step ", " ---> "))]
        if "aux" in chunk and "ID" in chunk["aux"]:
            image_id = chunk["aux"]["ID"]
    if not image_id:
        image_id = client.images.get(tag).id
    return image_id, stage_tips_of(lines)


def tag_image(client: docker.DockerClient, image_id: str, repository: str, tags: list[str]) -> None:
    image = client.images.get(image_id)
    for tag in tags:
        image.tag(repository, tag=tag)


def image_ids(client: docker.DockerClient, references: list[str]) -> set[str]:
    """The ids these references point to now (missing ones are skipped)."""
    ids = set()
    for reference in references:
        try:
            ids.add(client.images.get(reference).id)
        except NotFound:
            pass
    return ids


def parse_engine_time(text: str) -> float:
    """The engine's RFC 3339 time (nanoseconds, Z) as seconds since the epoch."""
    stamp, _, fraction = text.rstrip("Z").partition(".")
    seconds = datetime.fromisoformat(stamp + "+00:00").timestamp()
    return seconds + (float(f"0.{fraction}") if fraction else 0.0)


def remove_untagged_made_since(client: docker.DockerClient, since: float) -> tuple[int, list[str]]:
    """Remove, with the parents only they had, the untagged childless images made since `since` (seconds since
    the epoch): what builds that ran beside another build left (they name no stage tips then). Waits for running
    builds first (PRUNE_WAIT_SECONDS); returns how many it removed and the ids it could not remove (in use, or the
    builds never ended)."""
    with _no_build_running(client) as alone:
        mine = [image.id for image in client.images.list(filters={"dangling": True})
                if parse_engine_time(image.attrs["Created"]) >= since]
        if not alone:
            return 0, mine
        left = []
        for image_id in mine:
            try:
                client.images.remove(image_id, noprune=False)
            except NotFound:
                pass
            except APIError:  # a container still uses it
                left.append(image_id)
        return len(mine) - len(left), left


def remove_if_untagged(client: docker.DockerClient, image_id: str) -> bool:
    """Delete an image that no tag names any more; kept (False) while a container or a child image uses it."""
    try:
        if client.images.get(image_id).tags:
            return False
        with _no_build_running(client) as alone:
            client.images.remove(image_id, noprune=not alone)
    except NotFound:
        return True
    except APIError as error:
        if error.status_code == 409:
            return False
        raise
    return True


def image_size_bytes(client: docker.DockerClient, reference: str) -> int:
    return int(client.images.get(reference).attrs.get("Size", 0))


def run_detached(client: docker.DockerClient, *, image: str, name: str, labels: dict[str, str],
                 environment: dict[str, str], ports: dict[str, tuple[str, int]],
                 read_only: bool = True, tmpfs: dict[str, str] | None = None):
    try:
        return client.containers.run(
            image, name=name, detach=True, labels=labels, environment=environment, ports=ports,
            read_only=read_only, tmpfs=tmpfs or {}, init=True,
        )
    except ImageNotFound:
        raise CannotRun(f"image {image} is not present; run `python -m ci build` first") from None
    except APIError as error:
        raise CannotRun(f"could not start container {name}: {_short(error)}") from None


def published_port(container, container_port: int) -> int:
    container.reload()
    bindings = container.attrs["NetworkSettings"]["Ports"].get(f"{container_port}/tcp") or []
    if not bindings:
        raise CannotRun(f"container {container.name} publishes no port for {container_port}/tcp")
    return int(bindings[0]["HostPort"])


def wait_until_ready(container, url: str, timeout_seconds: float) -> float:
    """Poll the service's /ready until 200; on timeout or exit, fail with the tail of its log."""
    started = time.monotonic()
    last_problem = ""
    while time.monotonic() - started < timeout_seconds:
        container.reload()
        if container.status in ("exited", "dead"):
            raise CannotRun(f"container {container.name} exited before becoming ready:\n{log_tail(container)}")
        try:
            response = requests.get(url, timeout=2)
            if response.status_code == 200:
                return time.monotonic() - started
            last_problem = f"{response.status_code} {response.text[:200]}"
        except requests.RequestException as error:
            last_problem = _short(error)
        time.sleep(0.2)
    raise CannotRun(
        f"container {container.name} did not become ready within {timeout_seconds:.0f}s "
        f"(last answer: {last_problem}); its log ends with:\n{log_tail(container)}"
    )


def log_tail(container, lines: int = 20) -> str:
    try:
        return container.logs(tail=lines).decode(errors="replace").rstrip()
    except (APIError, NotFound):
        return "(no log available)"


def remove_labelled_containers(client: docker.DockerClient, labels: list[str]) -> list[str]:
    """Remove (with their anonymous volumes) the containers carrying every one of labels ("key=value")."""
    removed = []
    for container in client.containers.list(all=True, filters={"label": labels}, ignore_removed=True):
        try:
            container.remove(force=True, v=True)
            removed.append(container.name)
        except NotFound:
            pass
    return removed


def _short(error: Exception) -> str:
    if isinstance(error, APIError) and error.explanation:
        return str(error.explanation)
    if isinstance(error, BuildError):
        return error.msg
    return str(error).splitlines()[0] if str(error) else type(error).__name__


COMPOSE_PROJECT_LABEL = "com.docker.compose.project"


def remove_compose_projects(client: docker.DockerClient, matches: Callable[[str], bool]) -> dict[str, list[str]]:
    """Remove the containers, then networks and volumes, of every compose project whose name matches."""
    removed: dict[str, list[str]] = {"containers": [], "networks": [], "volumes": []}
    label = {"label": COMPOSE_PROJECT_LABEL}
    for container in client.containers.list(all=True, filters=label, ignore_removed=True):
        if matches(container.labels.get(COMPOSE_PROJECT_LABEL, "")):
            _ignore_missing(lambda: container.remove(force=True, v=True))
            removed["containers"].append(container.name)
    for network in client.networks.list(filters=label):
        if matches(network.attrs.get("Labels", {}).get(COMPOSE_PROJECT_LABEL, "")):
            _ignore_missing(network.remove)
            removed["networks"].append(network.name)
    for volume in client.volumes.list(filters=label):
        if matches((volume.attrs.get("Labels") or {}).get(COMPOSE_PROJECT_LABEL, "")):
            _ignore_missing(lambda: volume.remove(force=True))
            removed["volumes"].append(volume.name)
    return removed


def _ignore_missing(action: Callable[[], object]) -> None:
    try:
        action()
    except NotFound:
        pass


class RegistryError(Exception):
    """A registry operation failed; the message is the engine's or the registry's own."""


def login(client: docker.DockerClient, registry: str, credentials: dict[str, str]) -> None:
    """Check credentials against the registry (kept in this client's memory only, never in a config file)."""
    try:
        client.login(username=credentials["username"], password=credentials["password"], registry=registry,
                     reauth=True)
    except (APIError, requests.RequestException) as error:
        raise RegistryError(_short(error)) from None


def push_tag(client: docker.DockerClient, repository: str, tag: str,
             credentials: dict[str, str] | None) -> str:
    """Push one tag; returns the manifest digest the registry reported."""
    digest = ""
    try:
        for chunk in client.images.push(repository, tag=tag, auth_config=credentials, stream=True, decode=True):
            if "error" in chunk:
                raise RegistryError(chunk["error"].strip())
            digest = chunk.get("aux", {}).get("Digest", digest)
    except (APIError, requests.RequestException) as error:
        raise RegistryError(_short(error)) from None
    if not digest:
        raise RegistryError(f"the registry reported no digest for {repository}:{tag}")
    return digest


def registry_digest(client: docker.DockerClient, reference: str, credentials: dict[str, str] | None) -> str:
    """Read back the manifest digest the registry now serves for reference."""
    try:
        return client.images.get_registry_data(reference, auth_config=credentials).id
    except (APIError, requests.RequestException) as error:
        raise RegistryError(_short(error)) from None


def read_file_from_image(client: docker.DockerClient, image: str, path: str) -> bytes:
    """Read one file out of an image without running it (a created, never started container)."""
    container = client.containers.create(image, command=["true"])
    try:
        chunks, _ = container.get_archive(path)
        with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as archive:
            return archive.extractfile(archive.getmembers()[0]).read()
    finally:
        container.remove(force=True, v=True)


def run_in_image(client: docker.DockerClient, image: str, command: list[str]) -> bytes:
    """Run a command in a throwaway container of the image, with no network and a read-only root; its stdout.
    The container is removed whatever happens."""
    container = client.containers.create(image, command=command, entrypoint=[], network_disabled=True,
                                         read_only=True)
    try:
        container.start()
        result = container.wait(timeout=120)
        output = container.logs(stdout=True, stderr=False)
        if result.get("StatusCode") != 0:
            error = container.logs(stdout=False, stderr=True).decode(errors="replace")
            raise CheckFailed(f"{' '.join(command[:2])} in {image} failed: {error.strip()[-300:]}")
        return output
    finally:
        container.remove(force=True, v=True)


def add_labels(client: docker.DockerClient, reference: str, labels: dict[str, str]) -> str:
    """Put labels on an existing image (a FROM-only build: no layer changes) and move reference to it."""
    image_id = ""
    with _building(client):
        stream = client.api.build(fileobj=io.BytesIO(f"FROM {reference}\n".encode()), tag=reference, labels=labels,
                                  rm=True, forcerm=True, pull=False, decode=True)
        for chunk in stream:
            if "error" in chunk:
                raise CheckFailed(f"labelling {reference} failed: {chunk['error'].strip()}")
            image_id = chunk.get("aux", {}).get("ID", image_id)
    return image_id or client.images.get(reference).id


def remove_image_tags(client: docker.DockerClient, image_id: str, tags: tuple[str, ...]) -> bool:
    """Untag (and so delete) an image; False when a container still uses it. Untagged images go by id."""
    try:
        with _no_build_running(client) as alone:
            for tag in tags:
                client.images.remove(tag, noprune=not alone)
            if not tags:
                client.images.remove(image_id, noprune=not alone)
    except NotFound:
        return True
    except APIError as error:
        if error.status_code == 409:
            return False
        raise
    return True
