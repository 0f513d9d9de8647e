"""SSH sessions to an environment's hosts one at a time, for the commands that read each host in turn (`ci audit
verify`, `ci releases`, `ci predictions export`): each session closes before the next opens, and the credentials'
temporary copies go when the block ends, however it ends."""

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from ci.config import EnvironmentConfig
from ci.deploy.credentials import ssh_credentials
from ci.executor.ssh import SshHost
from ci.ssh_plan import HostAddress


@contextlib.contextmanager
def host_by_host(environment: EnvironmentConfig, environ: dict[str, str], root: Path,
                 hosts: Sequence[str] | None = None) -> Iterator[Iterator[tuple[str, SshHost]]]:
    """Yields an iterator of (host as configured, open session) over `hosts` (default: every host)."""
    credentials = ssh_credentials(environment, environ, root)

    def sessions() -> Iterator[tuple[str, SshHost]]:
        for text in environment.hosts if hosts is None else hosts:
            session = SshHost(HostAddress.parse(text), credentials.key_file, credentials.known_hosts_file)
            try:
                yield text, session
            finally:
                session.close()

    opened = sessions()
    try:
        yield opened
    finally:
        opened.close()
        credentials.cleanup()
