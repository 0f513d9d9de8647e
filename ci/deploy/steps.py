"""Steps of one host's deploy over SSH: who deploys, the image onto the host, the release healthy.

The decisions (names, commands, which releases to prune) come from ci/deploy/plan.py and ci/deploy/names.py;
this module only runs them and reacts to what the host answers.
"""

import getpass
import os
import socket
import time
from dataclasses import dataclass, field

from ci.deploy import plan
from ci.console import progress
from ci.errors import CannotRun, CheckFailed
from ci.executor.registry_gate import serving_gate
from ci.executor.ssh import RemoteCommandFailed, SshHost
from ci.registry_address import is_loopback_registry
from ci.registry_gate import PullGate, gated_reference


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
    notes: list = field(default_factory=list)
    lock_token: int | None = None
    audit_head: str = ""


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
    # A registry on the agent's loopback is reachable from the host only through this connection, and then only
    # through a gate that serves this release, read-only: anyone on the host can use the forwarded port meanwhile.
    with serving_gate(registry, PullGate.for_reference(pull_reference)) as gate:
        port = int(gate.rsplit(":", 1)[1])
        host.forward_to_host(port, gate)
        try:
            host.run(["docker", "pull", gated_reference(pull_reference, gate)], timeout=900)
        finally:
            host.forward_to_host(port, gate, cancel=True)


def wait_healthy(host: SshHost, container: str, timeout_seconds: int, check=lambda: None) -> float:
    """Seconds until the release's health check passes, Docker's or the same check run at once (Docker runs its
    own every few seconds only); check() (the abort) is called between polls."""
    started = time.monotonic()
    status = ""
    while time.monotonic() - started < timeout_seconds:
        check()
        status = host.text(plan.health_command(container))
        if status == "running healthy":
            return time.monotonic() - started
        if status.startswith(("exited", "dead")):
            break
        if status.startswith("running") and host.run(plan.ready_probe_command(container), check=False).returncode == 0:
            return time.monotonic() - started
        time.sleep(0.5)
    log = host.run(["docker", "logs", "--tail", "15", container], check=False)
    tail = (log.stdout + log.stderr).decode(errors="replace").strip()
    raise CheckFailed(f"{host.address}: release {container} is not healthy ({status}) after "
                      f"{timeout_seconds}s; its log ends with:\n{tail}")
