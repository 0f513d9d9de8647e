"""Carry out one host's part of a deploy plan over SSH: lock, image, release, health, switch, roll back, record.

The decisions (names, commands, which releases to prune) come from ci/deploy_plan.py and ci/proxy.py;
this module only runs them in order and reacts to what the host answers.
"""

import getpass
import json
import os
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field

import requests

from ci import deploy_plan as plan
from ci import proxy
from ci.console import progress
from ci.errors import CannotRun, CheckFailed
from ci.executor.ssh import RemoteCommandFailed, SshHost
from ci.registry_address import is_loopback_registry
from ci.ssh_plan import reverse_forward_command

# Heartbeats come several times within the stale threshold, so a live deploy's lock is never taken over.
HEARTBEATS_PER_STALE_PERIOD = 4


@dataclass
class HostOutcome:
    host: str
    public_url: str
    release: str = ""
    previous: str = ""
    transfer: str = ""
    result: str = "pending"
    reason: str = ""
    durations: dict = field(default_factory=dict)


class DeployLock:
    """The environment's lock on one host: atomic mkdir, an owner, a heartbeat, and takeover of a dead holder's."""

    def __init__(self, host: SshHost, paths: plan.RemotePaths, deploy_id: str, owner: str,
                 wait_seconds: int, stale_seconds: int):
        self.host, self.paths, self.deploy_id, self.owner = host, paths, deploy_id, owner
        self.wait_seconds, self.stale_seconds = wait_seconds, stale_seconds
        self.heartbeat_seconds = max(0.5, stale_seconds / HEARTBEATS_PER_STALE_PERIOD)
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def acquire(self) -> None:
        deadline = time.monotonic() + self.wait_seconds
        announced = False
        while True:
            if self.host.run(plan.lock_acquire_command(self.paths, self.deploy_id, self.owner), check=False) \
                    .returncode == 0:
                self._beat = threading.Thread(target=self._heartbeat, daemon=True)
                self._beat.start()
                return
            now, heartbeat, holder = plan.parse_lock_status(self.host.text(plan.lock_status_command(self.paths)))
            if plan.lock_is_stale(now, heartbeat, self.stale_seconds):
                progress(f"{self.host.address}: taking over the stale lock of {holder.get('owner', 'unknown')} "
                         f"(no heartbeat for {now - heartbeat}s)")
                self.host.run(plan.lock_takeover_command(self.paths, holder.get("deploy_id", "")), check=False)
                continue
            if time.monotonic() > deadline:
                raise CannotRun(f"{self.host.address}: the environment is locked by {holder.get('owner', 'unknown')} "
                                f"(deploy {holder.get('deploy_id', '?')}); waited {self.wait_seconds}s")
            if not announced:
                progress(f"{self.host.address}: waiting for the lock held by {holder.get('owner', 'unknown')}")
                announced = True
            time.sleep(1)

    def release(self) -> None:
        self._stop.set()
        if self._beat:
            self._beat.join(timeout=self.heartbeat_seconds + 30)
        self.host.run(plan.lock_release_command(self.paths, self.deploy_id), check=False)

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.heartbeat_seconds):
            try:
                self.host.run(plan.lock_heartbeat_command(self.paths, self.deploy_id), check=False, timeout=20)
            except CannotRun:
                pass  # the deploy itself will notice a dead connection


def deploy_owner(environ: dict[str, str]) -> str:
    who = environ.get("BUILD_USER_ID") or environ.get("USER") or getpass.getuser()
    where = environ.get("BUILD_TAG") or "local"
    return f"{who}@{socket.gethostname()} pid {os.getpid()} ({where})"


def ensure_image(host: SshHost, image_id: str, pull_reference: str, registry: str, transfer: str) -> str:
    """Get the image onto the host by digest: pull when it can reach the registry, else stream it over SSH."""
    if host.run(plan.image_present_command(image_id), check=False).returncode == 0:
        return "present"
    if transfer in ("auto", "pull") and pull_reference:
        try:
            _pull(host, pull_reference, registry)
            if host.run(plan.image_present_command(image_id), check=False).returncode == 0:
                return "pulled"
            raise CheckFailed(f"{host.address}: {pull_reference} pulled, but it is not image {image_id}")
        except (RemoteCommandFailed, CannotRun) as error:
            if transfer == "pull":
                raise CannotRun(f"{host.address}: pull of {pull_reference} failed: {error}") from None
            progress(f"{host.address}: cannot pull ({str(error)[-120:]}); streaming the image over SSH")
    # By id, not by tag: a tag can move to another build while this one streams (concurrent builds, relabels).
    host.pipe_from_local(["docker", "save", image_id], ["docker", "load"])
    if host.run(plan.image_present_command(image_id), check=False).returncode != 0:
        raise CheckFailed(f"{host.address}: image {image_id} was streamed but is not on the host")
    return "streamed"


def _pull(host: SshHost, pull_reference: str, registry: str) -> None:
    if not is_loopback_registry(registry):
        host.run(["docker", "pull", pull_reference], timeout=900)
        return
    # A registry on the agent's loopback is reachable from the host only through this connection.
    port = int(registry.rsplit(":", 1)[1])
    host.text(["true"])  # the master connection the forward rides on
    forward = subprocess.run(reverse_forward_command(host.address, host.options, port, registry),
                             capture_output=True, text=True, timeout=30)
    if forward.returncode != 0:
        raise CannotRun(f"tunnel to the registry failed: {forward.stderr.strip()[-200:]}")
    try:
        host.run(["docker", "pull", pull_reference], timeout=900)
    finally:
        subprocess.run(reverse_forward_command(host.address, host.options, port, registry, cancel=True),
                       capture_output=True, timeout=30)


def wait_healthy(host: SshHost, container: str, timeout_seconds: int) -> float:
    started = time.monotonic()
    status = ""
    while time.monotonic() - started < timeout_seconds:
        status = host.text(plan.health_command(container))
        if status == "running healthy":
            return time.monotonic() - started
        if status.startswith(("exited", "dead")):
            break
        time.sleep(0.5)
    log = host.run(["docker", "logs", "--tail", "15", container], check=False)
    tail = (log.stdout + log.stderr).decode(errors="replace").strip()
    raise CheckFailed(f"{host.address}: release {container} is not healthy ({status}) after "
                      f"{timeout_seconds}s; its log ends with:\n{tail}")


def append_audit(host: SshHost, paths: plan.RemotePaths, record: dict) -> None:
    host.run(plan.audit_append_command(paths), input_bytes=(json.dumps(record, sort_keys=True) + "\n").encode())


class Traffic:
    """The host's proxy: which slot serves, and the switch between slots (see ci/proxy.py for the procedure)."""

    def __init__(self, host: SshHost, proxy_name: str, network: str, poll_seconds: float = 0.2):
        self.host, self.proxy, self.network, self.poll = host, proxy_name, network, poll_seconds

    def states(self) -> dict[str, dict]:
        return proxy.parse_servers_state(self.host.text(proxy.show_servers_state_command(self.proxy)))

    def slot_serving(self, container: str) -> str:
        """The slot that points at container's IP, or '' when none does."""
        ip = self.host.text(proxy.container_ip_command(container, self.network))
        for slot, state in self.states().items():
            if state["addr"] == ip and state["admin_state"] != "maint":
                return slot
        return ""

    def switch_to(self, container: str, old_slot: str, timeout_seconds: int, drain_seconds: int) -> str:
        """Point the idle slot at container, wait for HAProxy's own check to pass, then drain the old slot."""
        new_slot = proxy.other_slot(old_slot) if old_slot else proxy.SLOTS[0]
        ip = self.host.text(proxy.container_ip_command(container, self.network))
        for command in proxy.point_slot_commands(self.proxy, new_slot, ip, plan.CONTAINER_PORT):
            self.host.run(command)
        self.host.run(proxy.probe_slot_command(self.proxy, new_slot))
        self._wait(lambda states: proxy.slot_is_up(states, new_slot), timeout_seconds,
                   f"the proxy's health check never passed for {container} in slot {new_slot}")
        self.host.run(proxy.ready_slot_command(self.proxy, new_slot))
        if old_slot:
            self.host.run(proxy.drain_slot_command(self.proxy, old_slot))
            try:
                self._wait(lambda states: proxy.slot_is_drained(states, old_slot), drain_seconds, "")
            except CheckFailed:
                progress(f"{self.host.address}: slot {old_slot} still had sessions after {drain_seconds}s")
            self.host.run(proxy.maint_slot_command(self.proxy, old_slot))
        self.host.run(proxy.persist_state_command(self.proxy))
        return new_slot

    def _wait(self, condition, timeout_seconds: float, message: str) -> None:
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if condition(self.states()):
                return
            time.sleep(self.poll)
        raise CheckFailed(f"{self.host.address}: {message or 'timed out'}")


def ensure_proxy(host: SshHost, project: str, env: str, proxy_image_id: str, public_port: int,
                 paths: plan.RemotePaths) -> str:
    """The environment's network and proxy container exist and run (created on the first deploy)."""
    network = plan.network_name(project, env)
    name = proxy.proxy_container_name(f"{project}-{env}")
    if host.run(proxy.network_exists_command(network), check=False).returncode != 0:
        host.run(proxy.network_create_command(network))
    running = host.run(["docker", "inspect", "--format", "{{.State.Running}}", name], check=False)
    if running.returncode == 0 and running.stdout.strip() == b"true":
        return name
    if running.returncode == 0:
        host.run(["docker", "rm", "--force", name])
    ensure_image(host, proxy_image_id, "", "", "stream")
    host.run(proxy.state_dir_command(paths.proxy_dir))
    host.run(proxy.proxy_run_command(f"{project}-{env}", proxy_image_id, public_port, network, paths.proxy_dir))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if host.run(proxy.show_servers_state_command(name), check=False).returncode == 0:
            return name
        time.sleep(0.3)
    raise CannotRun(f"{host.address}: the proxy {name} did not start")


class CutoverProbe:
    """Constant requests to a public URL while traffic switches; every failure is counted (and none may happen)."""

    def __init__(self, url: str, body: bytes, rate: int):
        self.url, self.body, self.interval = url.rstrip("/") + "/predict", body, 1.0 / max(1, rate)
        self.sent = 0
        self.failed = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "CutoverProbe":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        with requests.Session() as session:
            while not self._stop.wait(self.interval):
                self.sent += 1
                try:
                    response = session.post(self.url, data=self.body, timeout=5,
                                            headers={"content-type": "application/json"})
                    if response.status_code != 200:
                        self._fail(f"HTTP {response.status_code}")
                except requests.RequestException as error:
                    self._fail(type(error).__name__)

    def _fail(self, what: str) -> None:
        self.failed += 1
        if len(self.errors) < 10:
            self.errors.append(what)
