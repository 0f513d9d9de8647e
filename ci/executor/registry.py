"""Start and stop a local registry process (`docker-registry serve`), waiting until it answers."""

import os
import signal
import subprocess
import time
from pathlib import Path

import requests

from ci.errors import CannotRun
from ci.executor.process import which
from ci.registry import registry_config

REGISTRY_PROGRAM = "docker-registry"
PID_FILE = "registry.pid"


def answers(address: str) -> bool:
    try:
        requests.get(f"http://{address}/v2/", timeout=1)
        return True
    except requests.RequestException:
        return False


class LocalRegistry:
    def __init__(self, address: str, workdir: Path, htpasswd_path: Path | None = None):
        self.address = address
        self.workdir = workdir
        self.htpasswd_path = htpasswd_path
        self.process: subprocess.Popen | None = None

    def start(self, timeout_seconds: float = 30) -> "LocalRegistry":
        if not which(REGISTRY_PROGRAM):
            raise CannotRun(f"'{REGISTRY_PROGRAM}' is not installed: `python -m ci setup` installs it (as root)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "config.yml"
        config.write_text(registry_config(self.address, str(self.workdir / "storage"),
                                          str(self.htpasswd_path) if self.htpasswd_path else None))
        log = (self.workdir / "registry.log").open("ab")
        self.process = subprocess.Popen([REGISTRY_PROGRAM, "serve", str(config)], stdout=log, stderr=log,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        (self.workdir / PID_FILE).write_text(f"{self.process.pid}\n")
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise CannotRun(f"the registry exited at start; see {self.workdir / 'registry.log'}")
            if answers(self.address):
                return self
            time.sleep(0.1)
        self.stop()
        raise CannotRun(f"the registry at {self.address} did not answer within {timeout_seconds:.0f}s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def stop_started_registry(workdir: Path, timeout_seconds: float = 10) -> bool:
    """Stop a registry a LocalRegistry started in an earlier process (its pid file says which); True if it ran."""
    pid_file = workdir / PID_FILE
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text())
    pid_file.unlink()
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    return True
