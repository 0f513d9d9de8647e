"""Where the deploy's SSH key and pinned host keys come from: Jenkins credentials (files or content) or config."""

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ci.config import EnvironmentConfig
from ci.errors import ConfigError

KEY_FILE_VARIABLE = "DEPLOY_SSH_KEY_FILE"
KEY_VARIABLE = "DEPLOY_SSH_KEY"
KNOWN_HOSTS_FILE_VARIABLE = "DEPLOY_KNOWN_HOSTS_FILE"
KNOWN_HOSTS_VARIABLE = "DEPLOY_KNOWN_HOSTS"
# The credentials a deploy reads by path: a detached worker gets copies of its own (ci.executor.process.run_detached),
# because withCredentials deletes these files when its block ends, however long the worker still runs.
SECRET_FILE_VARIABLES = (KEY_FILE_VARIABLE, KNOWN_HOSTS_FILE_VARIABLE)


@dataclass
class SshCredentials:
    key_file: Path
    known_hosts_file: Path
    _scratch: tempfile.TemporaryDirectory | None = None

    def cleanup(self) -> None:
        if self._scratch is not None:
            self._scratch.cleanup()


def ssh_credentials(environment: EnvironmentConfig, environ: dict[str, str], root: Path) -> SshCredentials:
    """Files named by the environment win; content in the environment is written to a private temp dir (0600)."""
    scratch = None

    def from_content(variable: str, name: str) -> Path:
        nonlocal scratch
        scratch = scratch or tempfile.TemporaryDirectory(prefix="mlci-deploy-")
        path = Path(scratch.name) / name
        path.write_text(environ[variable].strip() + "\n")
        os.chmod(path, 0o600)
        return path

    def choose(file_variable: str, content_variable: str, configured: str, name: str) -> Path:
        if environ.get(file_variable):
            path, source = Path(environ[file_variable]).expanduser(), file_variable
        elif environ.get(content_variable):
            return from_content(content_variable, name)
        else:
            # Relative paths in ci.toml are relative to the repository, wherever the command runs from.
            path, source = root / Path(configured).expanduser(), f"the environment's {name} setting ({configured})"
        if not path.is_file():
            raise ConfigError(f"{source} names {path}, which does not exist")
        return path

    key = choose(KEY_FILE_VARIABLE, KEY_VARIABLE, environment.ssh_key_file, "ssh_key_file")
    known_hosts = choose(KNOWN_HOSTS_FILE_VARIABLE, KNOWN_HOSTS_VARIABLE, environment.known_hosts_file,
                         "known_hosts_file")
    return SshCredentials(key, known_hosts, scratch)
