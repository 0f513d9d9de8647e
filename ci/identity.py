"""Who and what is being built: commit, branch, build number and a run id, from Jenkins variables and local git."""

import re
import secrets
from dataclasses import dataclass

LOCAL_BUILD_MARKER = "local"


@dataclass(frozen=True)
class GitFacts:
    """What `git` says about the work tree; empty strings where git has no answer."""

    commit: str = ""
    branch: str = ""
    exact_tag: str = ""
    dirty: bool = False
    commit_time: int | None = None  # the commit's committer time, seconds since the epoch


@dataclass(frozen=True)
class BuildIdentity:
    commit: str
    branch: str
    build_number: str
    git_tag: str
    dirty: bool
    run_id: str
    commit_time: int | None = None

    @property
    def short_commit(self) -> str:
        return self.commit[:12] if self.commit else "nocommit"

    @property
    def under_jenkins(self) -> bool:
        return bool(self.build_number)

    @property
    def revision(self) -> str:
        """The commit as recorded in images and metadata; a dirty local tree is never passed off as clean."""
        if not self.commit:
            return "unknown"
        return f"{self.commit}-dirty" if self.dirty else self.commit


def identity_from(environ: dict[str, str], git: GitFacts, random_suffix: str | None = None) -> BuildIdentity:
    """The commit is the work tree's HEAD (what is built); the branch and tag come from Jenkins where it says them,
    since its checkout is detached."""
    build_number = environ.get("BUILD_NUMBER", "").strip()
    # Multibranch sets BRANCH_NAME (the tag name for tag builds, with TAG_NAME): jenkinsci/branch-api-plugin:
    # src/main/java/jenkins/branch/BranchNameContributor.java. GIT_BRANCH comes from the git plugin's own checkout.
    branch = (environ.get("BRANCH_NAME") or _strip_remote(environ.get("GIT_BRANCH", "")) or git.branch).strip()
    if branch == "HEAD":
        branch = ""
    # Under Jenkins only a tag build (TAG_NAME) is the release: a branch build of the same commit must not push
    # the release's version tag too (two images racing for one tag).
    git_tag = (environ.get("TAG_NAME") or ("" if build_number else git.exact_tag)).strip()
    build_tag = environ.get("BUILD_TAG", "").strip()
    run_id = slug(build_tag) if build_tag else f"{LOCAL_BUILD_MARKER}-{random_suffix or secrets.token_hex(3)}"
    return BuildIdentity(
        # GIT_COMMIT is only a fallback for a tree without git: a pipeline may check out more than once.
        commit=(git.commit or environ.get("GIT_COMMIT", "")).strip(),
        branch=branch,
        build_number=build_number,
        git_tag=git_tag,
        # Jenkins builds a clean checkout; locally, uncommitted changes make the build dirty.
        dirty=git.dirty and not build_number,
        run_id=run_id,
        commit_time=git.commit_time if git.commit else None,
    )


def _strip_remote(branch: str) -> str:
    return branch.split("/", 1)[1] if branch.startswith("origin/") else branch


def slug(text: str, max_length: int = 63) -> str:
    """Lower-case letters, digits, '.', '_' and '-' only; no leading or trailing separator."""
    cleaned = re.sub(r"[^a-z0-9._-]+", "-", text.lower())
    cleaned = re.sub(r"-{2,}", "-", cleaned).strip("-._")
    return cleaned[:max_length].rstrip("-._") or "x"


def in_ci(environ: dict[str, str]) -> bool:
    """CI=true, or a Jenkins build (BUILD_NUMBER with JENKINS_URL); JENKINS_URL alone is a laptop using the client.

    Jenkins sets CI=true itself: jenkinsci/jenkins: core/src/main/java/jenkins/model/CoreEnvironmentContributor.java
    (buildEnvironmentFor(Job, ...))."""
    under_jenkins_build = bool(environ.get("BUILD_NUMBER")) and bool(environ.get("JENKINS_URL"))
    return environ.get("CI", "").lower() == "true" or under_jenkins_build
