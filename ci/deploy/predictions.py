"""Where an environment's prediction log lives on its hosts, and how it is read back, as data.

Releases come and go; the log outlives them. By default it is SQLite on a named volume per environment on each host,
mounted by every release of the environment (two at once during a cutover: WAL mode on one host kernel, see
tests/unit/model_app/test_shared_sqlite_log.py). An environment may name instead the variable that holds a
PostgreSQL URL. The URL is a secret: it reaches `docker run` on its standard input (`--env-file /dev/stdin`), never
as an argument (shown by `ps` on the host, by our error messages and the dry run), a label or a file on the host.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ci.deploy.names import DATA_DIR_IN_CONTAINER, EnvironmentNames
from ci.errors import ConfigError

DATABASE_URL = "DATABASE_URL"
EXPORT_MODULE = "model_app.export_predictions"
_EXPORTED = re.compile(r"export_predictions: (\d+) predictions")


@dataclass(frozen=True)
class PredictionStore:
    """Where the releases of one environment write their predictions: the volume (SQLite), or PostgreSQL."""

    database_url: str = field(default="", repr=False)

    @property
    def shared_by_hosts(self) -> bool:
        """One database for every host (PostgreSQL), or a log per host (each host's volume)."""
        return bool(self.database_url)

    def run_arguments(self, names: EnvironmentNames) -> list[str]:
        """What `docker run` needs for this store; the volume is created, with its labels, the first time."""
        if self.database_url:
            return ["--env-file", "/dev/stdin"]
        return ["--mount", volume_mount(names)]

    def run_input(self) -> bytes | None:
        """The standard input of `docker run`: the URL as an env-file line, or nothing."""
        return f"{DATABASE_URL}={self.database_url}\n".encode() if self.database_url else None


def volume_mount(names: EnvironmentNames) -> str:
    """The environment's volume at /data. A fresh volume is filled from the image's /data, so it is owned by the
    app user as that directory is (`volume-nocopy` would leave it root's, and the app could not write)."""
    labels = ",".join(f"volume-label={key}={value}" for key, value in names.predictions_labels().items())
    return f"type=volume,source={names.predictions_volume},target={DATA_DIR_IN_CONTAINER},{labels}"


def prediction_store_for(environment, env: str, environ: dict[str, str]) -> PredictionStore:
    """The environment's store; a named variable that is unset or holds no PostgreSQL URL is an error naming it
    (and never showing its value)."""
    variable = environment.database_url_variable
    if not variable:
        return PredictionStore()
    url = environ.get(variable, "")
    if not url:
        raise ConfigError(f"{variable} is not set: environment {env} keeps its predictions in PostgreSQL "
                          f"(ci.toml environments.{env}.database_url_variable); set it to the postgresql:// URL")
    if not url.startswith(("postgresql://", "postgres://")) or "\n" in url or "\r" in url:
        raise ConfigError(f"{variable} must hold one postgresql:// URL (its value is not shown)")
    return PredictionStore(url)


def hosts_holding_log(hosts: Sequence[str], store_shared: bool) -> list[str]:
    """Hosts to export from: every host has its own log on its volume; a shared database is read once."""
    return list(hosts[:1]) if store_shared else list(hosts)


def export_command(container: str, since: datetime | None) -> list[str]:
    """The export runs in the release that serves, which reads the store it is configured with."""
    return ["docker", "exec", container, "python", "-m", EXPORT_MODULE,
            *(["--since", since.isoformat()] if since else [])]


def exported_count(export_stderr: str) -> int:
    found = _EXPORTED.findall(export_stderr)
    return int(found[-1]) if found else 0
