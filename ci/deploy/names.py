"""Every name a deploy gives something on a target host, built here only: labels, the release containers, the
environment's network, proxy and prediction volume, and where its deploy state lives."""

from dataclasses import dataclass

from ci.build_plan import PROJECT_LABEL
from ci.model_labels import VERSION_LABEL

ROLE_LABEL = "io.mlci.role"
# One label per fact, spelled as the image's own labels spell it (io.mlci.model.version is the image's label).
ENVIRONMENT_LABEL = "io.mlci.environment"
RELEASE_LABEL = "io.mlci.release"
DIGEST_LABEL = "io.mlci.digest"
MODEL_VERSION_LABEL = VERSION_LABEL
COMMIT_LABEL = "io.mlci.commit"
# Labels releases carried before they were unified (read so that releases deployed then are still seen).
LEGACY_ENVIRONMENT_LABEL = "io.mlci.env"
LEGACY_MODEL_VERSION_LABEL = "io.mlci.model-version"
PROXY_ROLE = "proxy"
RELEASE_ROLE = "release"
NETWORK_ROLE = "release-network"
PREDICTIONS_ROLE = "predictions"

CONTAINER_PORT = 8000
APP_UID = 10001
# Where a release keeps its prediction log (the image's PREDICTION_LOG_PATH is in it).
DATA_DIR_IN_CONTAINER = "/data"


@dataclass(frozen=True)
class RemotePaths:
    """Where an environment's deploy state lives on a host."""

    base: str

    @property
    def lock(self) -> str:
        return f"{self.base}/lock"

    @property
    def lock_guard(self) -> str:
        """The file every lock command holds an exclusive flock on while it checks and changes the lock."""
        return f"{self.base}/lock.guard"

    @property
    def lock_counter(self) -> str:
        """The fencing counter: the last token an acquire handed out."""
        return f"{self.base}/lock.token"

    @property
    def lock_taken_over(self) -> str:
        """Where the last lock taken over from a dead holder is kept, for the record."""
        return f"{self.base}/lock.stale"

    @property
    def lock_released(self) -> str:
        return f"{self.base}/lock.released"

    @property
    def current(self) -> str:
        return f"{self.base}/current"

    @property
    def audit_log(self) -> str:
        return f"{self.base}/audit.log"

    @property
    def proxy_dir(self) -> str:
        return f"{self.base}/proxy"


@dataclass(frozen=True)
class EnvironmentNames:
    """The names of one environment of one project on a host."""

    project: str
    env: str
    state_dir: str = "/var/lib/mlci"

    @property
    def prefix(self) -> str:
        return f"{self.project}-{self.env}"

    @property
    def network(self) -> str:
        return self.prefix

    @property
    def proxy(self) -> str:
        return f"mlci-{self.prefix}-proxy"

    @property
    def predictions_volume(self) -> str:
        return f"{self.prefix}-predictions"

    @property
    def paths(self) -> RemotePaths:
        return RemotePaths(f"{self.state_dir.rstrip('/')}/{self.project}/{self.env}")

    def container(self, release_id: str) -> str:
        return f"{self.prefix}-{release_id}" if release_id else ""

    def release_labels(self, release) -> dict[str, str]:
        return {PROJECT_LABEL: self.project, ROLE_LABEL: RELEASE_ROLE, ENVIRONMENT_LABEL: self.env,
                RELEASE_LABEL: release.release_id, DIGEST_LABEL: release.digest,
                MODEL_VERSION_LABEL: release.model_version, COMMIT_LABEL: release.commit}

    def proxy_labels(self) -> dict[str, str]:
        return {PROJECT_LABEL: self.project, ROLE_LABEL: PROXY_ROLE, ENVIRONMENT_LABEL: self.env}

    def network_labels(self) -> dict[str, str]:
        return {PROJECT_LABEL: self.project, ROLE_LABEL: NETWORK_ROLE, ENVIRONMENT_LABEL: self.env}

    def predictions_labels(self) -> dict[str, str]:
        return {PROJECT_LABEL: self.project, ROLE_LABEL: PREDICTIONS_ROLE, ENVIRONMENT_LABEL: self.env}


def label_arguments(labels: dict[str, str]) -> list[str]:
    return [part for key, value in labels.items() for part in ("--label", f"{key}={value}")]
