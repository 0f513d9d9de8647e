"""Start and remove local target hosts (containers with sshd and their own engine) and pin their host keys."""

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import docker

from ci.errors import CannotRun
from ci.ssh_plan import HostAddress, known_hosts_line
from ci.target_host_plan import cgroup_parent, environment_toml, target_host_run_kwargs


@dataclass(frozen=True)
class TargetHost:
    name: str
    address: HostAddress
    public_url: str
    known_hosts_entry: str
    volume: str


def generate_key_pair(directory: Path) -> tuple[Path, str]:
    """A fresh ed25519 deploy key; returns the private key path and the public key line."""
    private = directory / "deploy_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "mlci-deploy", "-f", str(private)],
                   check=True, capture_output=True)
    return private, (directory / "deploy_key.pub").read_text().strip()


def start_target_host(client: docker.DockerClient, *, project: str, name: str, image: str, public_key: str,
                      public_port: int, run_label: str, timeout_seconds: float = 60,
                      ssh_host_port: int | None = None, public_host_port: int | None = None) -> TargetHost:
    volume = f"{name}-docker"
    client.volumes.create(volume, labels={"io.mlci.run": run_label})
    container = client.containers.run(**target_host_run_kwargs(project, name, image, public_key, volume,
                                                               public_port, run_label, ssh_host_port,
                                                               public_host_port))
    try:
        _wait_for_log(container, "target host ready", timeout_seconds)
        container.reload()
        ports = container.attrs["NetworkSettings"]["Ports"]
        ssh_port = int(ports["22/tcp"][0]["HostPort"])
        public = int(ports[f"{public_port}/tcp"][0]["HostPort"])
        # Pin the key the host generated at start, read from inside it: never trust on first use.
        host_key = container.exec_run(["cat", "/etc/ssh/ssh_host_ed25519_key.pub"]).output.decode().strip()
    except BaseException:
        remove_target_host(client, name, volume)
        raise
    address = HostAddress("root", "127.0.0.1", ssh_port)
    return TargetHost(name, address, f"http://127.0.0.1:{public}", known_hosts_line(address, host_key), volume)


def remove_target_host(client: docker.DockerClient, name: str, volume: str) -> None:
    try:
        client.containers.get(name).remove(force=True, v=True)
    except docker.errors.NotFound:
        pass
    _remove_empty_cgroups(cgroup_parent(name))
    try:
        client.volumes.get(volume).remove(force=True)
    except docker.errors.NotFound:
        pass


def _remove_empty_cgroups(parent: str) -> None:
    """The host's engine made cgroups for its containers; they are empty once the host is gone."""
    for hierarchy in Path("/sys/fs/cgroup").glob("*"):
        root = hierarchy / parent
        if not root.is_dir():
            continue
        for directory in sorted((path for path in root.rglob("*") if path.is_dir()), reverse=True) + [root]:
            try:
                directory.rmdir()
            except OSError:
                pass  # still in use, or not ours to remove


def _wait_for_log(container, marker: str, timeout_seconds: float) -> None:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        container.reload()
        logs = container.logs().decode(errors="replace")
        if marker in logs:
            return
        if container.status == "exited":
            break
        time.sleep(0.2)
    raise CannotRun(f"target host {container.name} did not start: {container.logs(tail=20).decode(errors='replace')}")


@dataclass(frozen=True)
class LocalEnvironment:
    """Target hosts started on this machine, with the deploy key and the pinned host keys to reach them."""

    targets: list[TargetHost]
    key_file: Path
    known_hosts_file: Path

    def toml(self, name: str, public_port: int) -> str:
        return environment_toml(name, [str(target.address) for target in self.targets],
                                [target.public_url for target in self.targets], public_port,
                                str(self.key_file), str(self.known_hosts_file))


def start_local_environment(client: docker.DockerClient, *, project: str, image: str, workdir: Path, hosts: int,
                            name_prefix: str, run_label: str, public_port: int = 8080) -> LocalEnvironment:
    workdir.mkdir(parents=True, exist_ok=True)
    key_file = workdir / "deploy_key"
    public_key = (workdir / "deploy_key.pub").read_text().strip() if key_file.exists() else \
        generate_key_pair(workdir)[1]
    targets: list[TargetHost] = []
    try:
        for index in range(hosts):
            targets.append(start_target_host(client, project=project, name=f"{name_prefix}-{index}", image=image,
                                             public_key=public_key, public_port=public_port, run_label=run_label))
    except BaseException:
        stop_local_environment(client, targets)
        raise
    known_hosts = workdir / "known_hosts"
    known_hosts.write_text("".join(target.known_hosts_entry + "\n" for target in targets))
    return LocalEnvironment(targets, key_file, known_hosts)


def stop_local_environment(client: docker.DockerClient, targets: list[TargetHost]) -> None:
    for target in targets:
        remove_target_host(client, target.name, target.volume)
