"""The plan for an image build, as plain data: tags, build arguments and labels (no engine needed)."""

import os
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from ci.config import Config
from ci.identity import BuildIdentity
from ci.tagging import image_tags_for, semver_from_git_tag

PROJECT_LABEL = "io.mlci.project"
BRANCH_LABEL = "io.mlci.branch"
HOST_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
BUILD_TRUST_DIR = "docker/trust"


@dataclass(frozen=True)
class BuildPlan:
    repository: str
    tags: list[str]
    dockerfile: str
    base_image: str
    buildargs: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def primary_reference(self) -> str:
        return f"{self.repository}:{self.tags[0]}"

    @property
    def references(self) -> list[str]:
        return [f"{self.repository}:{tag}" for tag in self.tags]

    def as_dict(self) -> dict:
        return {**asdict(self), "references": self.references}


def build_plan_for(config: Config, identity: BuildIdentity, base_image: str,
                   environ: dict[str, str], now: datetime | None = None) -> BuildPlan:
    tags = image_tags_for(identity)
    created = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    buildargs = {"BASE_IMAGE": base_image, "GIT_COMMIT": identity.revision}
    # A private package index configured for the host is used by the build too. It is passed only to
    # build stages; the runtime stage's history never contains it.
    if environ.get("PIP_INDEX_URL"):
        buildargs["PIP_INDEX_URL"] = environ["PIP_INDEX_URL"]
    labels = {
        "org.opencontainers.image.title": config.project.name,
        "org.opencontainers.image.revision": identity.revision,
        "org.opencontainers.image.created": created,
        "org.opencontainers.image.version": semver_from_git_tag(identity.git_tag) or tags[0],
        "org.opencontainers.image.source": environ.get("GIT_URL", ""),
        PROJECT_LABEL: config.project.name,
        BRANCH_LABEL: identity.branch or "detached",
    }
    return BuildPlan(
        repository=config.image.repository, tags=tags, dockerfile=config.image.dockerfile,
        base_image=base_image, buildargs=buildargs, labels={k: v for k, v in labels.items() if v},
    )


def host_ca_bundle() -> str | None:
    return HOST_CA_BUNDLE if os.path.isfile(HOST_CA_BUNDLE) else None
