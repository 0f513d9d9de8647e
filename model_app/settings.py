"""The service's settings, read once from environment variables with defaults that work locally."""

import os
import re
from dataclasses import dataclass
from pathlib import Path


class SettingsError(Exception):
    """An environment variable holds a value the service cannot use; the message names it."""


@dataclass(frozen=True)
class Settings:
    model_dir: Path = Path("build/model")
    host: str = "127.0.0.1"
    port: int = 8000
    max_batch: int = 256
    max_body_bytes: int = 1_048_576
    database_url: str = ""
    prediction_log_path: Path = Path("build/predictions.sqlite")
    prediction_log_queue: int = 100_000
    # Bytes of predictions held in memory while the store is slow or down (beyond it: dropped and counted).
    prediction_log_queue_bytes: int = 64 * 2**20
    shutdown_timeout_seconds: int = 10
    log_level: str = "info"
    # Set by `ci deploy` on each release container, so clients can tell releases apart in /ready.
    release_id: str = ""


_VARIABLES = {
    "MODEL_DIR": "model_dir",
    "HOST": "host",
    "PORT": "port",
    "MAX_BATCH": "max_batch",
    "MAX_BODY_BYTES": "max_body_bytes",
    "DATABASE_URL": "database_url",
    "PREDICTION_LOG_PATH": "prediction_log_path",
    "PREDICTION_LOG_QUEUE": "prediction_log_queue",
    "PREDICTION_LOG_QUEUE_BYTES": "prediction_log_queue_bytes",
    "SHUTDOWN_TIMEOUT_SECONDS": "shutdown_timeout_seconds",
    "LOG_LEVEL": "log_level",
    "RELEASE_ID": "release_id",
}
_LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def settings_from_env(environ: dict[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    defaults = Settings()
    values = {}
    for variable, field in _VARIABLES.items():
        raw = environ.get(variable)
        if raw is None or raw == "":
            continue
        default = getattr(defaults, field)
        if isinstance(default, int):
            values[field] = _positive_int(variable, raw)
        elif isinstance(default, Path):
            values[field] = Path(raw)
        elif field == "log_level":
            values[field] = raw.lower()
        else:
            values[field] = raw
    settings = Settings(**values)
    if settings.log_level not in _LOG_LEVELS:
        raise SettingsError(f"LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}, got {settings.log_level!r}")
    if settings.port > 65535:
        raise SettingsError(f"PORT must be at most 65535, got {settings.port}")
    if settings.database_url and not settings.database_url.startswith(("postgresql://", "postgres://")):
        raise SettingsError("DATABASE_URL must start with postgresql:// (unset it to log to SQLite)")
    if settings.database_url and _BAD_PERCENT.search(settings.database_url):
        # psycopg would refuse it at every connect with the password in its message, logged on every retry.
        raise SettingsError("DATABASE_URL holds a '%' that is not percent-encoding (in the password, most likely): "
                            "write a literal '%' as %25 (the URL itself is not shown here: it holds a secret)")
    return settings


def _positive_int(variable: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{variable} must be a whole number, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{variable} must be positive, got {value}")
    return value
