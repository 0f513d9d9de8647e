"""SSH commands as data: how the agent reaches a target host, with host keys always verified."""

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from ci.errors import ConfigError

HOST_PATTERN = re.compile(r"^(?P<user>[A-Za-z0-9._-]+)@(?P<host>[A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\])(:(?P<port>\d+))?$")


@dataclass(frozen=True)
class HostAddress:
    user: str
    host: str
    port: int = 22

    @classmethod
    def parse(cls, text: str) -> "HostAddress":
        match = HOST_PATTERN.match(text.strip())
        if not match:
            raise ConfigError(f"host {text!r} is not user@host[:port]")
        return cls(match["user"], match["host"].strip("[]"), int(match["port"] or 22))

    def __str__(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"

    @property
    def known_hosts_name(self) -> str:
        """How OpenSSH names this host in known_hosts."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"


def ssh_options(key_file: Path, known_hosts_file: Path, control_path: Path) -> list[str]:
    """No user config, no agent, no password prompts; unknown or changed host keys are refused."""
    return [
        "-F", "/dev/null",
        "-o", "BatchMode=yes",
        "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={known_hosts_file}",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "IdentitiesOnly=yes",
        "-o", "IdentityAgent=none",
        "-i", str(key_file),
        "-o", "ConnectTimeout=10",
        "-o", "ServerAliveInterval=5",
        "-o", "ServerAliveCountMax=3",
        # One TCP connection for the whole deploy: each command costs a round trip, not a handshake.
        "-o", "ControlMaster=auto",
        "-o", f"ControlPath={control_path}",
        "-o", "ControlPersist=120",
        "-o", "LogLevel=ERROR",
    ]


def ssh_command(address: HostAddress, options: list[str], remote_argv: list[str]) -> list[str]:
    """The remote command is quoted once, so each argument arrives intact."""
    return ["ssh", *options, "-p", str(address.port), f"{address.user}@{address.host}", shlex.join(remote_argv)]


def close_master_command(address: HostAddress, options: list[str]) -> list[str]:
    return ["ssh", *options, "-p", str(address.port), "-O", "exit", f"{address.user}@{address.host}"]


def reverse_forward_command(address: HostAddress, options: list[str], remote_port: int, local: str,
                            cancel: bool = False) -> list[str]:
    """Ask the host's master connection to make the agent's `local` (host:port) reachable as
    127.0.0.1:remote_port on the target host (or to stop doing so)."""
    return ["ssh", *options, "-O", "cancel" if cancel else "forward", "-R", f"127.0.0.1:{remote_port}:{local}",
            "-p", str(address.port), f"{address.user}@{address.host}"]


def known_hosts_line(address: HostAddress, public_key_line: str) -> str:
    """A known_hosts entry pinning public_key_line ("ssh-ed25519 AAAA... comment") for address."""
    key_type, key = public_key_line.split()[:2]
    return f"{address.known_hosts_name} {key_type} {key}"
