"""Start and remove local target hosts (containers with sshd and their own engine) and pin their host keys."""

import dataclasses
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import docker

from ci.deploy.names import EnvironmentNames
from ci.errors import CannotRun
from ci.ssh_plan import HostAddress, known_hosts_line
from ci.executor import process
from ci.target_host_plan import (OWNER_LABEL, ROLE_LABEL, TARGET_ROLE, cgroup_parent, environment_toml, public_ports,
                                 remove_environment_command, target_host_run_kwargs)


HOST_KEY_FILE = "/etc/ssh/ssh_host_ed25519_key.pub"


@dataclass(frozen=True)
class TargetHost:
    name: str
    address: HostAddress
    public_url: str
    known_hosts_entry: str
    volume: str
    # Every public port the host publishes (the port inside the host -> its URL on this machine).
    public_urls: dict[int, str] = field(default_factory=dict)

    def serving_on(self, public_port: int) -> "TargetHost":
        """This host as an environment whose proxy listens on public_port sees it: public_url is that port's."""
        if public_port not in self.public_urls:
            raise CannotRun(f"target host {self.name} publishes no port {public_port} ({sorted(self.public_urls)})")
        return dataclasses.replace(self, public_url=self.public_urls[public_port])


def generate_key_pair(directory: Path) -> tuple[Path, str]:
    """A fresh ed25519 deploy key; returns the private key path and the public key line."""
    private = directory / "deploy_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "mlci-deploy", "-f", str(private)],
                   check=True, capture_output=True)
    return private, (directory / "deploy_key.pub").read_text().strip()


def start_target_host(client: docker.DockerClient, *, project: str, name: str, image: str, public_key: str,
                      public_port: int, run_label: str, timeout_seconds: float = 60,
                      ssh_host_port: int | None = None, public_host_port: int | None = None,
                      environment_ports: int = 1, owner: str = "") -> TargetHost:
    volume = target_volume(name)
    client.volumes.create(volume, labels={"io.mlci.run": run_label, **({OWNER_LABEL: owner} if owner else {})})
    container = client.containers.run(**target_host_run_kwargs(project, name, image, public_key, volume,
                                                               public_port, run_label, ssh_host_port,
                                                               public_host_port, environment_ports, owner))
    try:
        _wait_for_log(container, "target host ready", timeout_seconds)
        container.reload()
        ports = container.attrs["NetworkSettings"]["Ports"]
        ssh_port = int(ports["22/tcp"][0]["HostPort"])
        urls = {port: f"http://127.0.0.1:{ports[f'{port}/tcp'][0]['HostPort']}"
                for port in public_ports(public_port, environment_ports)}
        address = HostAddress("root", "127.0.0.1", ssh_port)
        # Pin the key the host generated at start, read from inside it: never trust on first use.
        known_hosts_entry = known_hosts_line(address, _host_key(container, timeout_seconds))
    except BaseException:
        remove_target_host(client, name, volume)
        raise
    return TargetHost(name, address, urls[public_port], known_hosts_entry, volume, urls)


def target_volume(name: str) -> str:
    return f"{name}-docker"


def remove_orphaned_target_hosts(client: docker.DockerClient) -> list[str]:
    """Remove the target hosts (and their engines' volumes) whose owner process is gone: what a run that was killed
    (SIGKILL, a CI machine stopped mid-run) could not remove. Hosts of live owners and hosts without an owner (the
    local pipeline's, meant to stay) are left alone. Returns the names removed."""
    removed = []
    for container in client.containers.list(all=True, filters={"label": [f"{ROLE_LABEL}={TARGET_ROLE}", OWNER_LABEL]},
                                            ignore_removed=True):
        if not process.owner_alive(container.labels.get(OWNER_LABEL, "")):
            try:
                remove_target_host(client, container.name, target_volume(container.name))
                removed.append(container.name)
            except docker.errors.APIError as error:
                if error.status_code != 409:
                    raise
                # Another run started at the same moment is removing it ("removal ... already in progress", or
                # its volume "in use" until then): it is theirs to finish.
    for volume in client.volumes.list(filters={"label": OWNER_LABEL}):
        if not process.owner_alive((volume.attrs.get("Labels") or {}).get(OWNER_LABEL, "")):
            try:
                volume.remove(force=True)
                removed.append(volume.name)
            except docker.errors.APIError:
                pass  # in use after all
    return removed


def _host_key(container, timeout_seconds: float) -> str:
    """The host's public ed25519 key; an exec can come back empty on a loaded machine, so it is asked again."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        result = container.exec_run(["cat", HOST_KEY_FILE])
        key = result.output.decode(errors="replace").strip()
        if result.exit_code == 0 and key.startswith("ssh-ed25519 "):
            return key
        if time.monotonic() > deadline:
            raise CannotRun(f"target host {container.name}: no host key in {HOST_KEY_FILE} "
                            f"(exit {result.exit_code}): {key[-200:]}")
        time.sleep(0.5)


def remove_environment(client: docker.DockerClient, target: TargetHost, names: EnvironmentNames) -> None:
    """Remove what deploys of one environment left on a host (from inside it: no SSH, no lock, no known_hosts)."""
    try:
        result = client.containers.get(target.name).exec_run(remove_environment_command(names))
    except docker.errors.APIError as error:
        raise CannotRun(f"target host {target.name}: cannot remove environment {names.env}: {error}") from None
    if result.exit_code != 0:
        raise CannotRun(f"target host {target.name}: removing environment {names.env} failed "
                        f"(exit {result.exit_code}): {result.output.decode(errors='replace').strip()[-300:]}")


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


def start_target_hosts(client: docker.DockerClient, names: list[str], **kwargs) -> list[TargetHost]:
    """Start several hosts at once (each waits seconds for its engine); on a failure or Ctrl-C none is left."""
    pool = ThreadPoolExecutor(max_workers=max(1, len(names)))
    futures = [pool.submit(start_target_host, client, name=name, **kwargs) for name in names]
    interrupted = True
    try:
        wait(futures)
        interrupted = False
    finally:
        # After Ctrl-C too: every start ends first (a failed one removes itself), then the started are removed.
        pool.shutdown(wait=True)
        started = [future.result() for future in futures if future.exception() is None]
        failure = next((future.exception() for future in futures if future.exception() is not None), None)
        if interrupted or failure is not None:
            stop_local_environment(client, started)
    if failure is not None:
        raise failure
    return started


def load_or_generate_key(workdir: Path) -> tuple[Path, str]:
    """The deploy key pair kept in workdir (generated on first use): its private key path and public key line."""
    workdir.mkdir(parents=True, exist_ok=True)
    key_file = workdir / "deploy_key"
    if key_file.exists():
        return key_file, (workdir / "deploy_key.pub").read_text().strip()
    return generate_key_pair(workdir)


def start_local_environment(client: docker.DockerClient, *, project: str, image: str, workdir: Path, hosts: int,
                            name_prefix: str, run_label: str, public_port: int = 8080,
                            environment_ports: int = 1, owner: str = "") -> LocalEnvironment:
    key_file, public_key = load_or_generate_key(workdir)
    targets = start_target_hosts(client, [f"{name_prefix}-{index}" for index in range(hosts)], project=project,
                                 image=image, public_key=public_key, public_port=public_port, run_label=run_label,
                                 environment_ports=environment_ports, owner=owner)
    known_hosts = workdir / "known_hosts"
    known_hosts.write_text("".join(target.known_hosts_entry + "\n" for target in targets))
    return LocalEnvironment(targets, key_file, known_hosts)


def stop_local_environment(client: docker.DockerClient, targets: list[TargetHost]) -> None:
    for target in targets:
        remove_target_host(client, target.name, target.volume)
