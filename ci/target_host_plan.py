"""How a local target host container is run (tests and the local pipeline): a server reachable only over SSH."""

from ci.build_plan import PROJECT_LABEL
from ci.local_service import ROLE_LABEL

TARGET_ROLE = "target-host"
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


def target_host_run_kwargs(project: str, name: str, image: str, authorized_key: str, volume: str,
                           public_port: int, run_label: str, ssh_host_port: int | None = None,
                           public_host_port: int | None = None) -> dict:
    """Docker SDK `containers.run` arguments: SSH and the public port on loopback only (fixed host ports, or free
    ones when None), /var/lib/docker on a volume (else the inner engine falls back to the slow vfs driver)."""
    return {
        "image": image,
        "name": name,
        "detach": True,
        "environment": {"AUTHORIZED_KEYS": authorized_key, "CGROUP_PARENT": cgroup_parent(name)},
        "ports": {"22/tcp": ("127.0.0.1", ssh_host_port), f"{public_port}/tcp": ("127.0.0.1", public_host_port)},
        "volumes": {volume: {"bind": "/var/lib/docker", "mode": "rw"}},
        "labels": {PROJECT_LABEL: project, ROLE_LABEL: TARGET_ROLE, "io.mlci.run": run_label},
        **ENGINE_IN_CONTAINER,
    }


def environment_toml(name: str, hosts: list[str], public_urls: list[str], public_port: int, key_file: str,
                     known_hosts_file: str) -> str:
    """A ci.toml [environments.<name>] table for hosts started on this machine (for a test or a benchmark: a
    deploy there needs no approval, in CI either)."""
    def quoted(items: list[str]) -> str:
        return ", ".join(f'"{item}"' for item in items)

    return (f"\n[environments.{name}]\nhosts = [{quoted(hosts)}]\npublic_urls = [{quoted(public_urls)}]\n"
            f"public_port = {public_port}\nssh_key_file = \"{key_file}\"\nknown_hosts_file = \"{known_hosts_file}\"\n"
            "approval_required = false\n")
