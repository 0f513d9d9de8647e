"""Load ci.toml into typed settings: defaults that work on a laptop, overridable per key by environment.

Every key can be overridden by an environment variable MLCI_<SECTION>_<KEY> (upper case), e.g.
MLCI_IMAGE_BASE=python:3.11-slim-bookworm. Unknown keys, in the file or in MLCI_* variables, are errors
that name the key, so a typo never silently falls back to a default.
"""

import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path

from ci.errors import ConfigError

CONFIG_FILE = "ci.toml"
ENV_PREFIX = "MLCI_"
# Selects another configuration file (tests, one-off environments); not a key override.
CONFIG_FILE_VARIABLE = "MLCI_CONFIG_FILE"
ENVIRONMENTS = "environments"
IMAGE_TRANSFERS = ("auto", "pull", "stream")


@dataclass(frozen=True)
class ProjectConfig:
    name: str = "ml-model-service"
    release_branch: str = "main"


@dataclass(frozen=True)
class ImageConfig:
    repository: str = "ml-model-service"
    dockerfile: str = "Dockerfile"
    # The test-runner image (a target of the same Dockerfile) and the test stack's PostgreSQL image.
    runner_repository: str = "ml-model-service-runner"
    postgres_repository: str = "ml-model-service-postgres"
    postgres_dockerfile: str = "docker/postgres/Dockerfile"
    # Used when it is present locally or can be pulled; otherwise `ci setup` bootstraps bootstrap_base.
    base: str = "python:3.11-slim-bookworm"
    bootstrap_base: str = "ci-local/bookworm-python:3.11"
    bootstrap_suite: str = "bookworm"


@dataclass(frozen=True)
class ServiceConfig:
    container_port: int = 8000
    # Where `ci up` publishes the service on this machine; 0 picks a free port.
    local_port: int = 8080
    ready_timeout_seconds: int = 60


@dataclass(frozen=True)
class RegistryConfig:
    """Where `ci push` sends images. Credentials never live here: REGISTRY_USERNAME / REGISTRY_PASSWORD."""

    address: str = "127.0.0.1:5000"
    repository: str = "ml-model-service"
    push_attempts: int = 4
    retry_backoff_seconds: float = 2.0
    # A registry on this machine that `ci push` starts when nothing answers at the address (the local
    # pipeline's default); `ci down` stops it. Jenkins sets MLCI_REGISTRY_LOCAL=false with its own address.
    local: bool = True


@dataclass(frozen=True)
class TiersConfig:
    compose_file: str = "docker-compose.ci.yml"
    # How long a tier may run, and how long its services may take to become healthy.
    tier_timeout_seconds: int = 1200
    service_timeout_seconds: int = 120


@dataclass(frozen=True)
class GatesConfig:
    """Release gates the acceptance tier enforces; results go to reports/acceptance/gates.json."""

    min_accuracy: float = 0.93
    min_roc_auc: float = 0.98
    min_f1: float = 0.93
    # The candidate may be at most this much worse than the serving model on any gated metric.
    max_drop_vs_serving: float = 0.01
    latency_p95_ms: float = 25.0
    latency_requests: int = 400


@dataclass(frozen=True)
class DeployConfig:
    """How `ci deploy` behaves on every target host."""

    state_dir: str = "/var/lib/mlci"
    # Releases kept on each host (the active one included) for instant rollback.
    keep_releases: int = 3
    lock_wait_seconds: int = 120
    # A lock whose heartbeat is older than this belongs to a dead deploy and is taken over.
    lock_stale_seconds: int = 60
    health_timeout_seconds: int = 60
    drain_seconds: int = 10
    # Requests per second the cutover probe sends to the public port while traffic switches.
    probe_rate: int = 50
    # After a deploy, the release that served before keeps running (no traffic) this long, so that a rollback
    # within it is a proxy switch; after it, a rollback starts the retained container again. 0: stopped at once.
    rollback_grace_seconds: int = 900
    # What each release container may take of its host (docker run --memory, swap none beyond it, --pids-limit);
    # every release also runs with all capabilities dropped and no-new-privileges.
    release_memory: str = "512m"
    release_pids_limit: int = 256


@dataclass(frozen=True)
class EnvironmentConfig:
    """One deploy environment: its hosts (user@host:port for SSH) and how the agent reaches each host's service."""

    hosts: tuple[str, ...] = ()
    # The URL of each host's public port as seen from the agent, in the order of hosts.
    public_urls: tuple[str, ...] = ()
    public_port: int = 8080
    # Hosts updated at a time.
    batch_size: int = 1
    # auto: pull from the registry when the host reaches it, else stream over SSH; or always pull / stream.
    image_transfer: str = "auto"
    ssh_key_file: str = "~/.ssh/id_ed25519"
    known_hosts_file: str = "~/.ssh/known_hosts"
    # The local pipeline's environment: `ci deploy` starts its one host on this machine (a container with sshd
    # and its own engine) at the ports of `hosts` and `public_urls`, with a deploy key it generates.
    local_target: bool = False
    # In CI a deploy here needs this run's approval (ci/approval.py); false only for hosts this machine started
    # for a test or a benchmark.
    approval_required: bool = True
    # Where the releases keep the prediction log: empty, SQLite on the environment's volume on each host; else the
    # name of the deploying process's environment variable that holds a postgresql:// URL (a Jenkins credential),
    # so that the URL itself is never in ci.toml.
    database_url_variable: str = ""


@dataclass(frozen=True)
class JenkinsConfig:
    """The job `ci jenkins sync-job` keeps in Jenkins. Credentials never live here: JENKINS_USER / JENKINS_API_TOKEN."""

    job_name: str = "ml-model-service"
    jenkinsfile: str = "Jenkinsfile"
    # The repository Jenkins checks out; empty here because only sync-job needs it (and says so).
    scm_url: str = ""
    branch: str = "main"
    # The Jenkins credentials id for the checkout; empty for a repository Jenkins reads anonymously.
    scm_credentials_id: str = ""
    # How often the multibranch project rescans the repository for new branches and tags when no webhook came:
    # the only fallback, the Jenkinsfile has no pollSCM (cloudbees-folder's PeriodicFolderTrigger: a number with m,
    # h or d; 5m is one of its own choices, DescriptorImpl.doFillIntervalItems).
    scan_interval: str = "5m"
    # A tag whose tagged commit's commit time is older than this when a scan sees it is not built automatically
    # (the first scan would otherwise build every old release tag); `ci jenkins trigger --branch <tag>` builds it.
    tag_max_age_days: int = 7
    # The Jenkins user or group allowed to answer the pipeline's approval input.
    release_managers: str = "release-managers"


@dataclass(frozen=True)
class Config:
    project: ProjectConfig = field(default_factory=ProjectConfig)
    image: ImageConfig = field(default_factory=ImageConfig)
    service: ServiceConfig = field(default_factory=ServiceConfig)
    registry: RegistryConfig = field(default_factory=RegistryConfig)
    deploy: DeployConfig = field(default_factory=DeployConfig)
    environments: dict = field(default_factory=dict)
    test: TiersConfig = field(default_factory=TiersConfig)
    gates: GatesConfig = field(default_factory=GatesConfig)
    jenkins: JenkinsConfig = field(default_factory=JenkinsConfig)


def load_config(root: Path, environ: dict[str, str] | None = None) -> Config:
    """Read root/ci.toml (optional) and MLCI_* variables over the defaults."""
    environ = os.environ if environ is None else environ
    path = Path(environ[CONFIG_FILE_VARIABLE]) if environ.get(CONFIG_FILE_VARIABLE) else root / CONFIG_FILE
    data: dict = {}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{path}: not valid TOML: {error}") from None
    config = config_from_mapping(data, source=str(path))
    return apply_env_overrides(config, environ)


def config_from_mapping(data: dict, source: str) -> Config:
    sections = {}
    for section_name, section_data in data.items():
        if not isinstance(section_data, dict):
            raise ConfigError(f"{source}: [{section_name}] must be a table")
        if section_name == ENVIRONMENTS:
            sections[section_name] = {
                name: _environment(name, table, source) for name, table in section_data.items()}
            continue
        sections[section_name] = _section(_section_type(section_name, source), section_name, section_data, source)
    return Config(**sections)


def _section(section_type: type, section_name: str, section_data: dict, source: str):
    values = {}
    for key, value in section_data.items():
        expected = _field_type(section_type, section_name, key, source)
        values[key] = _checked(value, expected, f"{source}: {section_name}.{key}")
    return section_type(**values)


def _environment(name: str, table: object, source: str) -> EnvironmentConfig:
    where = f"{ENVIRONMENTS}.{name}"
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [{where}] must be a table")
    environment = _section(EnvironmentConfig, where, table, source)
    if not environment.hosts:
        raise ConfigError(f"{source}: {where}.hosts must list at least one user@host:port")
    if len(environment.public_urls) != len(environment.hosts):
        raise ConfigError(f"{source}: {where}.public_urls must give one URL per host "
                          f"({len(environment.hosts)} hosts, {len(environment.public_urls)} URLs)")
    if environment.image_transfer not in IMAGE_TRANSFERS:
        raise ConfigError(f"{source}: {where}.image_transfer must be one of {', '.join(IMAGE_TRANSFERS)}, "
                          f"got {environment.image_transfer!r}")
    if environment.batch_size < 1:
        raise ConfigError(f"{source}: {where}.batch_size must be at least 1")
    variable = environment.database_url_variable
    if variable and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", variable):
        # Not echoed: what is here instead of a variable's name may be the URL with its password.
        raise ConfigError(f"{source}: {where}.database_url_variable must name an environment variable that holds "
                          f"the URL (the URL itself is a secret and never belongs in ci.toml)")
    return environment


def apply_env_overrides(config: Config, environ: dict[str, str]) -> Config:
    for variable, raw in sorted(environ.items()):
        if not variable.startswith(ENV_PREFIX) or variable == CONFIG_FILE_VARIABLE:
            continue
        section_name, _, key = variable[len(ENV_PREFIX):].lower().partition("_")
        section_type = _section_type(section_name, variable)
        expected = _field_type(section_type, section_name, key, variable)
        value = _parse_env_value(raw, expected, variable)
        section = getattr(config, section_name)
        config = replace(config, **{section_name: replace(section, **{key: value})})
    return config


def _section_type(name: str, source: str) -> type:
    if name == ENVIRONMENTS:
        raise ConfigError(f"{source}: environments are configured in ci.toml tables [environments.<name>] only")
    for item in fields(Config):
        if item.name == name:
            return item.default_factory().__class__
    known = ", ".join(item.name for item in fields(Config))
    raise ConfigError(f"{source}: unknown section '{name}' (known: {known})")


def _field_type(section_type: type, section_name: str, key: str, source: str) -> type:
    hints = typing.get_type_hints(section_type)
    if key not in hints:
        known = ", ".join(sorted(hints))
        raise ConfigError(f"{source}: unknown key '{section_name}.{key}' (known in [{section_name}]: {known})")
    return hints[key]


def _checked(value: object, expected: type, where: str) -> object:
    origin = typing.get_origin(expected)
    if origin in (list, tuple) or expected in (list, tuple):
        if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
            raise ConfigError(f"{where} must be a list of non-empty strings, got {value!r}")
        return tuple(value)
    if expected is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be a whole number, got {value!r}")
        if value < 0:
            raise ConfigError(f"{where} must not be negative, got {value}")
        return value
    if expected is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if expected is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        return float(value)
    if isinstance(expected, type) and is_dataclass(expected):
        raise ConfigError(f"{where} is a section, not a value")
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where} must be a non-empty string, got {value!r}")
    return value


def _parse_env_value(raw: str, expected: type, variable: str) -> object:
    if expected is int:
        try:
            return _checked(int(raw), int, variable)
        except ValueError:
            raise ConfigError(f"{variable} must be a whole number, got {raw!r}") from None
    if expected is float:
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"{variable} must be a number, got {raw!r}") from None
    if expected is bool:
        if raw.lower() not in ("true", "false", "1", "0"):
            raise ConfigError(f"{variable} must be true or false, got {raw!r}")
        return raw.lower() in ("true", "1")
    if isinstance(expected, types.GenericAlias):
        return tuple(item.strip() for item in raw.split(",") if item.strip())
    return _checked(raw, str, variable)
