"""The plan for pushing a build to a registry, and how to tell a transient registry error from a final one."""

from dataclasses import dataclass

from ci.config import Config
from ci.errors import ConfigError

USERNAME_VARIABLE = "REGISTRY_USERNAME"
PASSWORD_VARIABLE = "REGISTRY_PASSWORD"
# Registry and network failures that a retry can cure; anything else (unauthorized, denied, unknown
# name, invalid manifest) fails at once.
TRANSIENT_MARKERS = (
    "connection refused", "connection reset", "i/o timeout", "timeout", "tls handshake", "eof",
    "502 bad gateway", "503 service unavailable", "504 gateway", "500 internal server error",
    "too many requests", "toomanyrequests", "server gave http response", "no route to host", "broken pipe",
)


@dataclass(frozen=True)
class PushPlan:
    source_image: str
    registry: str
    repository: str
    tags: list[str]
    attempts: int
    backoff_seconds: float

    @property
    def target_repository(self) -> str:
        return f"{self.registry}/{self.repository}"

    def target_references(self) -> list[str]:
        return [f"{self.target_repository}:{tag}" for tag in self.tags]

    def by_digest(self, digest: str) -> str:
        return f"{self.target_repository}@{digest}"


def push_plan_for(config: Config, build_report: dict) -> PushPlan:
    return PushPlan(
        source_image=build_report["image"],
        registry=config.registry.address,
        repository=config.registry.repository,
        tags=list(build_report["tags"]),
        attempts=max(1, config.registry.push_attempts),
        backoff_seconds=config.registry.retry_backoff_seconds,
    )


def is_transient(message: str) -> bool:
    lowered = message.lower()
    return any(marker in lowered for marker in TRANSIENT_MARKERS)


def backoff_delays(attempts: int, base_seconds: float) -> list[float]:
    """Waits before attempts 2..n: base, 2x, 4x, … (exponential, capped at 30 s)."""
    return [min(30.0, base_seconds * 2 ** index) for index in range(attempts - 1)]


def credentials_from(environ: dict[str, str]) -> dict[str, str] | None:
    """Registry credentials from the environment (Jenkins credentials binding); both or neither."""
    username, password = environ.get(USERNAME_VARIABLE, ""), environ.get(PASSWORD_VARIABLE, "")
    if bool(username) != bool(password):
        missing = PASSWORD_VARIABLE if username else USERNAME_VARIABLE
        raise ConfigError(f"{missing} is not set: registry credentials need both {USERNAME_VARIABLE} "
                          f"and {PASSWORD_VARIABLE}")
    return {"username": username, "password": password} if username else None
