"""Run Docker Compose v2 (the pinned binary, or the `docker compose` plugin) for a project."""

import io
import json
import os
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

from ci.errors import CannotRun
from ci.executor.host import bundled_compose_binary
from ci.executor.process import capture, stream


def compose_program() -> list[str]:
    binary = bundled_compose_binary()
    return [str(binary)] if binary else ["docker", "compose"]


class ComposeRunner:
    """Runs compose commands with the plan's environment; the only place compose is invoked."""

    def __init__(self, root: Path, environment: dict[str, str]):
        self.root = root
        self.environ = {**os.environ, **environment}
        self.program = compose_program()

    def capture(self, args: list[str], timeout: float = 300):
        return capture([*self.program, *args], cwd=self.root, timeout=timeout, env=self.environ)

    def stream(self, args: list[str], on_line: Callable[[str], None], timeout: float | None = None) -> int:
        """Stream a command's output; past the timeout it is killed and TimeoutError raised."""
        deadline = time.monotonic() + timeout if timeout else None
        return stream([*self.program, *args], on_line, cwd=self.root, env=self.environ,
                      kill_when=(lambda: time.monotonic() > deadline) if deadline else None)

    def service_states(self, compose_args: list[str]) -> list[dict]:
        """`compose ps --all --format json`: one dict per container (Service, State, Health, ExitCode)."""
        result = self.capture([*compose_args, "ps", "--all", "--format", "json"], timeout=60)
        if result.returncode != 0:
            return []
        text = result.stdout.strip()
        if text.startswith("["):
            return json.loads(text)
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def copy_from_container(client, container_name: str, source: str, destination: Path) -> None:
    """Copy a directory out of a (possibly stopped) container through the engine API: works for remote engines too."""
    try:
        chunks, _ = client.api.get_archive(container_name, source)
    except Exception as error:  # the engine's NotFound/APIError: the runner produced no reports
        raise CannotRun(f"could not copy {source} out of {container_name}: {error}") from None
    destination.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as archive:
        archive.extractall(destination, filter=_owned_by_caller)


def _owned_by_caller(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo:
    member = tarfile.data_filter(member, path)
    return member.replace(uid=os.getuid(), gid=os.getgid(), uname="", gname="", deep=False)
