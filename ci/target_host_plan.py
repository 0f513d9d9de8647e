"""How a local target host container is run (tests and the local pipeline): a server reachable only over SSH."""

import shlex

from ci.build_plan import PROJECT_LABEL
from ci.deploy.names import ENVIRONMENT_LABEL, EnvironmentNames
from ci.errors import CannotRun
from ci.local_service import ROLE_LABEL

TARGET_ROLE = "target-host"
RUN_LABEL = "io.mlci.run"
# On hosts that must not outlive the process that started them (tests, benchmarks): its owner_token.
OWNER_LABEL = "io.mlci.owner"
# Near-root powers for the engine inside, without --privileged (which these machines refuse).
ENGINE_IN_CONTAINER = {
    "cap_add": ["ALL"],
    "cap_drop": ["SYS_RESOURCE"],
    "security_opt": ["seccomp=unconfined", "apparmor=unconfined"],
    "device_cgroup_rules": ["a *:* rwm"],
}


def cgroup_parent(name: str) -> str:
    """The cgroup under which the host's engine puts its containers (removed with the host)."""
    return f"mlci-target-{name}"


def public_ports(first: int, count: int) -> tuple[int, ...]:
    """The host's public ports: one per environment it serves at once (each environment's proxy binds its own)."""
    if count < 1:
        raise ValueError("a target host publishes at least one public port")
    return tuple(range(first, first + count))


def free_public_port(ports: tuple[int, ...], in_use: list[set[int]]) -> int:
    """The first of a host's public ports that no environment uses on any of the given hosts (an environment has one
    public port on all its hosts)."""
    taken = set().union(*in_use)
    for port in ports:
        if port not in taken:
            return port
    raise CannotRun(f"every public port ({', '.join(map(str, ports))}) serves an environment already")


def target_host_run_kwargs(project: str, name: str, image: str, authorized_key: str, volume: str,
                           public_port: int, run_label: str, ssh_host_port: int | None = None,
                           public_host_port: int | None = None, environment_ports: int = 1, owner: str = "") -> dict:
    """Docker SDK `containers.run` arguments: SSH and the public ports on loopback only (fixed host ports, or free
    ones when None; only the first public port can be fixed), /var/lib/docker on a volume (else the inner engine
    falls back to the slow vfs driver). environment_ports > 1 publishes public_port and the ports after it, so that
    environments sharing the host each have a proxy reachable from this machine. owner (a process's owner_token)
    marks a host as that process's alone: removed by a later run once that process is gone."""
    ports = {"22/tcp": ("127.0.0.1", ssh_host_port)}
    for port in public_ports(public_port, environment_ports):
        ports[f"{port}/tcp"] = ("127.0.0.1", public_host_port if port == public_port else None)
    return {
        "image": image,
        "name": name,
        "detach": True,
        "environment": {"AUTHORIZED_KEYS": authorized_key, "CGROUP_PARENT": cgroup_parent(name)},
        "ports": ports,
        "volumes": {volume: {"bind": "/var/lib/docker", "mode": "rw"}},
        "labels": target_host_labels(project, run_label, owner),
        **ENGINE_IN_CONTAINER,
    }


def target_host_labels(project: str, run_label: str, owner: str = "") -> dict[str, str]:
    labels = {PROJECT_LABEL: project, ROLE_LABEL: TARGET_ROLE, RUN_LABEL: run_label}
    return {**labels, OWNER_LABEL: owner} if owner else labels


def remove_environment_command(names: EnvironmentNames) -> list[str]:
    """One command, run inside a host, that removes everything a deploy of `names` left there (releases and proxy,
    network, volumes, state directory with its lock and audit log): the host is as if the environment never was."""
    filters = " ".join(f"--filter {shlex.quote(f'label={label}={value}')}"
                       for label, value in ((PROJECT_LABEL, names.project), (ENVIRONMENT_LABEL, names.env)))
    return ["sh", "-c", " && ".join([
        f"docker ps --all --quiet {filters} | xargs -r docker rm --force --volumes >/dev/null",
        f"docker network ls --quiet {filters} | xargs -r docker network rm >/dev/null",
        f"docker volume ls --quiet {filters} | xargs -r docker volume rm --force >/dev/null",
        f"rm -rf -- {shlex.quote(names.paths.base)}",
    ])]


def environment_toml(name: str, hosts: list[str], public_urls: list[str], public_port: int, key_file: str,
                     known_hosts_file: str) -> str:
    """A ci.toml [environments.<name>] table for hosts started on this machine (for a test or a benchmark: a
    deploy there needs no approval, in CI either)."""
    def quoted(items: list[str]) -> str:
        return ", ".join(f'"{item}"' for item in items)

    return (f"\n[environments.{name}]\nhosts = [{quoted(hosts)}]\npublic_urls = [{quoted(public_urls)}]\n"
            f"public_port = {public_port}\nssh_key_file = \"{key_file}\"\nknown_hosts_file = \"{known_hosts_file}\"\n"
            "approval_required = false\n")
