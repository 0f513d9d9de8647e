"""The plan for a build, as plain data: which images, their tags, build arguments and labels (no engine needed)."""

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from ci.config import Config
from ci.identity import BuildIdentity
from ci.redaction import without_credentials
from ci.tagging import image_tags_for, semver_from_git_tag

PROJECT_LABEL = "io.mlci.project"
BRANCH_LABEL = "io.mlci.branch"
IMAGE_ROLE_LABEL = "io.mlci.image-role"
MODEL, RUNNER, POSTGRES = "model", "runner", "postgres"
PROXY, TARGET_HOST = "proxy", "target-host"


@dataclass(frozen=True)
class ImageSpec:
    role: str
    repository: str
    dockerfile: str
    target: str | None = None


@dataclass(frozen=True)
class BuildPlan:
    tags: list[str]
    base_image: str
    images: tuple[ImageSpec, ...]
    buildargs: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)

    def spec(self, role: str) -> ImageSpec:
        return next(image for image in self.images if image.role == role)

    def references(self, role: str = MODEL) -> list[str]:
        return [f"{self.spec(role).repository}:{tag}" for tag in self.tags]

    def primary_reference(self, role: str = MODEL) -> str:
        return self.references(role)[0]

    @property
    def stage_repository(self) -> str:
        """Where the build stages' last images are named (`<model repository>-stage:<stage>`), the build cache."""
        return f"{self.spec(MODEL).repository}-stage"

    def labels_for(self, role: str) -> dict[str, str]:
        return {**self.labels, IMAGE_ROLE_LABEL: role}

    def as_dict(self) -> dict:
        return {**asdict(self), "references": {image.role: self.references(image.role) for image in self.images}}


def source_date(identity: BuildIdentity, environ: dict[str, str]) -> str:
    """org.opencontainers.image.created as the source's date, not the build's: building the same source twice then
    gives the same image (every step a cache hit), so no tag moves off an image that would stay behind untagged, and
    concurrent builds of one source agree. SOURCE_DATE_EPOCH (reproducible-builds.org) when set, else the commit's
    time for a clean commit; a dirty tree or a copy without git has no source date, and the label is left out (the
    engine's own Created still says when the image was built)."""
    epoch = environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        seconds = int(epoch)
    elif identity.commit and not identity.dirty and identity.commit_time is not None:
        seconds = identity.commit_time
    else:
        return ""
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_plan_for(config: Config, identity: BuildIdentity, base_image: str,
                   environ: dict[str, str]) -> BuildPlan:
    tags = image_tags_for(identity)
    created = source_date(identity, environ)
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
        # The checkout URL may carry user:token@ (a Jenkins credential): the label reaches `docker inspect`, the
        # registry and reports/build.json, so it never carries that.
        "org.opencontainers.image.source": without_credentials(environ.get("GIT_URL", "")),
        PROJECT_LABEL: config.project.name,
        BRANCH_LABEL: identity.branch or "detached",
    }
    images = (
        ImageSpec(MODEL, config.image.repository, config.image.dockerfile, target="runtime"),
        ImageSpec(RUNNER, config.image.runner_repository, config.image.dockerfile, target="test-runner"),
        ImageSpec(POSTGRES, config.image.postgres_repository, config.image.postgres_dockerfile),
        ImageSpec(PROXY, f"{config.image.repository}-proxy", "docker/proxy/Dockerfile"),
        ImageSpec(TARGET_HOST, f"{config.image.repository}-target-host", "docker/target-host/Dockerfile"),
    )
    return BuildPlan(tags=tags, base_image=base_image, images=images, buildargs=buildargs,
                     labels={key: value for key, value in labels.items() if value})
