"""Start and stop a local registry process (`docker-registry serve`), waiting until it answers."""

import subprocess
import time
from pathlib import Path

import requests

from ci.errors import CannotRun
from ci.executor.process import which
from ci.registry import registry_config

REGISTRY_PROGRAM = "docker-registry"


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
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise CannotRun(f"the registry exited at start; see {self.workdir / 'registry.log'}")
            try:
                requests.get(f"http://{self.address}/v2/", timeout=1)
                return self
            except requests.RequestException:
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
