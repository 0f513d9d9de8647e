"""Target hosts shared by the deploy scenarios of one test process: started once, each scenario deploying to them
as its own environment (own state directory, lock, audit log, network, proxy and public port), which is removed from
the hosts when the scenario ends. The hosts' engines keep the images, so a later scenario finds the model image
present instead of streaming it. A scenario that kills or changes a host asks for fresh hosts instead."""

import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

import docker

from ci.deploy.names import EnvironmentNames
from ci.errors import CannotRun
from ci.executor import process
from ci.executor.target_host import (TargetHost, load_or_generate_key, remove_environment, remove_orphaned_target_hosts,
                                     start_target_hosts, stop_local_environment)
from ci.target_host_plan import free_public_port, public_ports

PROJECT = "ml-model-service"
STATE_DIR = "/var/lib/mlci"
FIRST_PUBLIC_PORT = 8080
# Environments a pooled host serves at once: one per scenario running in this process, and spares for a scenario
# whose environment could not be removed (its port stays taken until the host is retired).
ENVIRONMENT_PORTS = 4


@dataclass
class Lease:
    """The hosts and public port one scenario's environment uses; `fresh` are its alone (removed when it ends)."""

    names: EnvironmentNames
    public_port: int
    targets: list[TargetHost]
    fresh: list[TargetHost]


class TargetPool:
    def __init__(self, client: docker.DockerClient, image: str, workdir: Path):
        self.client, self.image = client, image
        # What a killed run left (its process gone) goes first; this process's hosts carry its token for the next.
        for name in remove_orphaned_target_hosts(client):
            print(f"removed {name}, left by a test run that was killed", file=sys.stderr)
        self.owner = process.owner_token()
        self.run = secrets.token_hex(3)
        self.key_file, self.public_key = load_or_generate_key(workdir)
        self.ports = public_ports(FIRST_PUBLIC_PORT, ENVIRONMENT_PORTS)
        self.shared: list[TargetHost] = []
        self.in_use: dict[str, set[int]] = {}
        self._started = 0

    def lease(self, env: str, hosts: int = 1, fresh: int = 0) -> Lease:
        """hosts in all, the last `fresh` of them started for this environment alone, the others shared."""
        if not 0 <= fresh <= hosts:
            raise ValueError(f"fresh hosts ({fresh}) must be between 0 and hosts ({hosts})")
        shared = hosts - fresh
        started = self._start(max(0, shared - len(self.shared)) + fresh)
        self.shared += started[:len(started) - fresh]
        fresh_hosts = started[len(started) - fresh:]
        for target in started:
            self.in_use[target.name] = set()
        chosen = self.shared[:shared] + fresh_hosts
        port = free_public_port(self.ports, [self.in_use[target.name] for target in chosen])
        for target in chosen:
            self.in_use[target.name].add(port)
        return Lease(EnvironmentNames(PROJECT, env, STATE_DIR), port, [target.serving_on(port) for target in chosen],
                     fresh_hosts)

    def give_back(self, lease: Lease) -> None:
        """Remove the environment from the shared hosts (a host where that fails is retired), the fresh hosts whole."""
        stop_local_environment(self.client, lease.fresh)
        fresh = {target.name for target in lease.fresh}
        for target in lease.targets:
            if target.name in fresh or target.name not in self.in_use:
                continue
            try:
                remove_environment(self.client, target, lease.names)
                self.in_use[target.name].discard(lease.public_port)
            except CannotRun as error:
                print(f"retiring shared target host {target.name}: {error}", file=sys.stderr)
                self._retire(target.name)

    def close(self) -> None:
        stop_local_environment(self.client, self.shared)
        self.shared = []

    def _start(self, count: int) -> list[TargetHost]:
        names = [f"mlci-test-target-{self.run}-{self._started + index}" for index in range(count)]
        self._started += count
        return start_target_hosts(self.client, names, project=PROJECT, image=self.image, public_key=self.public_key,
                                  public_port=FIRST_PUBLIC_PORT, run_label=f"test-{self.run}",
                                  environment_ports=ENVIRONMENT_PORTS, owner=self.owner)

    def _retire(self, name: str) -> None:
        retired = [target for target in self.shared if target.name == name]
        self.shared = [target for target in self.shared if target.name != name]
        self.in_use.pop(name, None)
        stop_local_environment(self.client, retired)
