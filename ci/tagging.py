"""Image tags for a build, computed from its identity alone (never `latest`)."""

import re

from ci.identity import LOCAL_BUILD_MARKER, BuildIdentity, slug

SEMVER_TAG = re.compile(r"^v(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?)$")
MAX_TAG_LENGTH = 128


def image_tags_for(identity: BuildIdentity) -> list[str]:
    """<short-sha>, <branch-slug>-<build-number or 'local'>, and <semver> for a v* git tag; in that order."""
    commit_tag = identity.short_commit + ("-dirty" if identity.dirty else "")
    branch = slug(identity.branch, max_length=100) if identity.branch else "detached"
    build = identity.build_number or LOCAL_BUILD_MARKER
    tags = [commit_tag, f"{branch}-{build}"[:MAX_TAG_LENGTH]]
    version = semver_from_git_tag(identity.git_tag)
    if version:
        # Docker tags allow no '+': build metadata becomes '_'.
        tags.append(version.replace("+", "_"))
    return tags


def semver_from_git_tag(git_tag: str) -> str:
    match = SEMVER_TAG.match(git_tag or "")
    return match.group(1) if match else ""
