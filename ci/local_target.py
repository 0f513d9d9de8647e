"""The local pipeline's target host: started on this machine at the ports its environment names, reused if running."""

from pathlib import Path
from urllib.parse import urlparse

import docker

from ci.build_plan import TARGET_HOST
from ci.config import EnvironmentConfig
from ci.console import progress
from ci.errors import ConfigError
from ci.executor.target_host import generate_key_pair, remove_target_host, start_target_host
from ci.image_builder import build_images, plan_with_base
from ci.ssh_plan import HostAddress


def local_target_name(project: str, env: str) -> str:
    return f"{project}-{env}-target"


def local_target_ports(environment: EnvironmentConfig, env: str) -> tuple[HostAddress, int]:
    """The one host's SSH address and the agent-side port of its public URL (both on loopback)."""
    if len(environment.hosts) != 1:
        raise ConfigError(f"environments.{env}: a local_target environment has exactly one host")
    address = HostAddress.parse(environment.hosts[0])
    public = urlparse(environment.public_urls[0])
    if address.host != "127.0.0.1" or public.hostname != "127.0.0.1" or not public.port:
        raise ConfigError(f"environments.{env}: a local target lives on 127.0.0.1 (hosts and public_urls with ports)")
    return address, public.port


def ensure_local_target(ctx, client: docker.DockerClient, env: str, environment: EnvironmentConfig) -> None:
    """Start the environment's host unless it runs; (re)write the deploy key and the pinned host key it uses."""
    project = ctx.config.project.name
    name = local_target_name(project, env)
    address, public_port = local_target_ports(environment, env)
    key_file = (ctx.root / environment.ssh_key_file).resolve()
    known_hosts = (ctx.root / environment.known_hosts_file).resolve()
    try:
        if client.containers.get(name).status == "running" and key_file.exists() and known_hosts.exists():
            return
    except docker.errors.NotFound:
        pass
    remove_target_host(client, name, f"{name}-docker")
    key_file.parent.mkdir(parents=True, exist_ok=True)
    if not key_file.exists():
        generated, _ = generate_key_pair(key_file.parent)
        if generated != key_file:
            generated.rename(key_file)
            Path(f"{generated}.pub").rename(f"{key_file}.pub")
    public_key = Path(f"{key_file}.pub").read_text().strip()
    plan, _ = plan_with_base(ctx, client)
    image = build_images(ctx, client, plan, (TARGET_HOST,))[TARGET_HOST]["reference"]
    progress(f"starting the local target host {name} (ssh {address}, public port {public_port})")
    target = start_target_host(client, project=project, name=name, image=image, public_key=public_key,
                               public_port=environment.public_port, run_label=f"local-{env}",
                               ssh_host_port=address.port, public_host_port=public_port)
    known_hosts.parent.mkdir(parents=True, exist_ok=True)
    known_hosts.write_text(target.known_hosts_entry + "\n")


def stop_local_target(client: docker.DockerClient, project: str, env: str) -> bool:
    name = local_target_name(project, env)
    try:
        client.containers.get(name)
    except docker.errors.NotFound:
        return False
    remove_target_host(client, name, f"{name}-docker")
    return True
