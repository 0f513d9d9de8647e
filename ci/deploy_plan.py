"""Deploys as data: names, paths and the remote commands for locks, releases and the audit log on a target host."""

import json
import shlex
from dataclasses import dataclass
from datetime import datetime, timezone

from ci.build_plan import PROJECT_LABEL

ENV_LABEL = "io.mlci.env"
RELEASE_LABEL = "io.mlci.release"
DIGEST_LABEL = "io.mlci.digest"
MODEL_VERSION_LABEL = "io.mlci.model-version"
COMMIT_LABEL = "io.mlci.commit"
CONTAINER_PORT = 8000
APP_UID = 10001


@dataclass(frozen=True)
class RemotePaths:
    """Where an environment's deploy state lives on a host."""

    base: str

    @property
    def lock(self) -> str:
        return f"{self.base}/lock"

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
class Release:
    release_id: str
    image_id: str
    digest: str
    model_version: str
    commit: str

    def container(self, project: str, env: str) -> str:
        return f"{project}-{env}-{self.release_id}"


def remote_paths(state_dir: str, project: str, env: str) -> RemotePaths:
    return RemotePaths(f"{state_dir.rstrip('/')}/{project}/{env}")


def network_name(project: str, env: str) -> str:
    return f"{project}-{env}"


def release_id_for(image_id: str, now: datetime) -> str:
    """Sortable by time, and says which image: 20261126T101500-0c89f6af6c8e."""
    return f"{now.astimezone(timezone.utc):%Y%m%dT%H%M%S}-{image_id.removeprefix('sha256:')[:12]}"


def run_release_command(project: str, env: str, release: Release) -> list[str]:
    """The release container: on the environment's network, no published port (traffic comes via the proxy)."""
    return [
        "docker", "run", "--detach", "--name", release.container(project, env),
        "--network", network_name(project, env), "--network-alias", release.container(project, env),
        "--restart", "unless-stopped", "--read-only", "--tmpfs", f"/data:uid={APP_UID},gid={APP_UID}",
        "--health-cmd", "python -m model_app.healthcheck", "--health-interval", "1s",
        "--health-timeout", "3s", "--health-retries", "3", "--health-start-period", "0s",
        "--env", f"RELEASE_ID={release.release_id}",
        "--label", f"{PROJECT_LABEL}={project}", "--label", f"{ENV_LABEL}={env}",
        "--label", f"{RELEASE_LABEL}={release.release_id}", "--label", f"{DIGEST_LABEL}={release.digest}",
        "--label", f"{MODEL_VERSION_LABEL}={release.model_version}", "--label", f"{COMMIT_LABEL}={release.commit}",
        release.image_id,
    ]


def health_command(container: str) -> list[str]:
    return ["docker", "inspect", "--format", "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}"
            "{{else}}none{{end}}", container]


def container_ip_command(container: str, network: str) -> list[str]:
    return ["docker", "inspect", "--format", f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}',
            container]


def list_releases_command(project: str, env: str) -> list[str]:
    return ["docker", "ps", "--all", "--no-trunc", "--filter", f"label={PROJECT_LABEL}={project}",
            "--filter", f"label={ENV_LABEL}={env}", "--filter", f"label={RELEASE_LABEL}",
            "--format", "{{json .}}"]


def image_present_command(image_id: str) -> list[str]:
    return ["docker", "image", "inspect", "--format", "{{.Id}}", image_id]


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


def lock_acquire_command(paths: RemotePaths, deploy_id: str, owner: str) -> list[str]:
    """mkdir is atomic: exactly one deploy creates the lock directory; it then records who holds it."""
    owner_json = json.dumps({"deploy_id": deploy_id, "owner": owner})
    return sh(f"mkdir -p {shlex.quote(paths.base)} && mkdir {shlex.quote(paths.lock)} 2>/dev/null"
              f" && printf '%s' {shlex.quote(owner_json)} > {shlex.quote(paths.lock)}/owner.json"
              f" && date +%s > {shlex.quote(paths.lock)}/heartbeat")


def lock_status_command(paths: RemotePaths) -> list[str]:
    """Prints: the host's clock, the heartbeat (or 0), then the owner JSON (or nothing)."""
    lock = shlex.quote(paths.lock)
    return sh(f"date +%s; cat {lock}/heartbeat 2>/dev/null || echo 0; cat {lock}/owner.json 2>/dev/null || true")


def lock_heartbeat_command(paths: RemotePaths, deploy_id: str) -> list[str]:
    lock = shlex.quote(paths.lock)
    return sh(f"grep -q {shlex.quote(deploy_id)} {lock}/owner.json && date +%s > {lock}/heartbeat")


def lock_takeover_command(paths: RemotePaths, stale_owner_deploy_id: str) -> list[str]:
    """Move a dead deploy's lock aside (rename is atomic: of two recoverers, one wins) and keep it for the record."""
    lock = shlex.quote(paths.lock)
    aside = shlex.quote(f"{paths.lock}.stale-{stale_owner_deploy_id or 'unknown'}")
    return sh(f"rm -rf {aside} && mv {lock} {aside}")


def lock_release_command(paths: RemotePaths, deploy_id: str) -> list[str]:
    """Only the holder removes the lock."""
    lock = shlex.quote(paths.lock)
    return sh(f"if grep -q {shlex.quote(deploy_id)} {lock}/owner.json 2>/dev/null; then rm -rf {lock}; fi")


def parse_lock_status(text: str) -> tuple[int, int, dict]:
    lines = text.splitlines()
    now, heartbeat = int(lines[0]), int(lines[1] or 0)
    owner = json.loads(lines[2]) if len(lines) > 2 and lines[2].strip() else {}
    return now, heartbeat, owner


def lock_is_stale(now: int, heartbeat: int, stale_seconds: int) -> bool:
    return heartbeat > 0 and now - heartbeat > stale_seconds


def write_current_command(paths: RemotePaths, release_id: str) -> list[str]:
    """Write then rename: a cut connection leaves the old value or the new one, never half a file."""
    current = shlex.quote(paths.current)
    return sh(f"printf '%s' {shlex.quote(release_id)} > {current}.tmp && mv {current}.tmp {current}")


def read_current_command(paths: RemotePaths) -> list[str]:
    return sh(f"cat {shlex.quote(paths.current)} 2>/dev/null || true")


def audit_append_command(paths: RemotePaths) -> list[str]:
    """Append one JSON line from stdin; the log is only ever appended to."""
    return sh(f"mkdir -p {shlex.quote(paths.base)} && cat >> {shlex.quote(paths.audit_log)}")


def audit_tail_command(paths: RemotePaths, lines: int) -> list[str]:
    return sh(f"tail -n {int(lines)} {shlex.quote(paths.audit_log)} 2>/dev/null || true")


def parse_releases(docker_ps_json_lines: str) -> list[dict]:
    """`docker ps --format '{{json .}}'` lines -> [{release, container, state, created, digest, model_version}]."""
    releases = []
    for line in docker_ps_json_lines.splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        labels = dict(item.split("=", 1) for item in entry.get("Labels", "").split(",") if "=" in item)
        releases.append({
            "release": labels.get(RELEASE_LABEL, ""), "container": entry.get("Names", ""),
            "state": entry.get("State", ""), "status": entry.get("Status", ""),
            "created": entry.get("CreatedAt", ""), "digest": labels.get(DIGEST_LABEL, ""),
            "model_version": labels.get(MODEL_VERSION_LABEL, ""), "commit": labels.get(COMMIT_LABEL, ""),
            "image": entry.get("Image", ""),
        })
    return sorted(releases, key=lambda release: release["release"], reverse=True)


def releases_to_remove(releases: list[dict], current: str, keep: int) -> list[dict]:
    """Keep the current release and the newest others up to `keep` in all; never the current one."""
    others = [release for release in releases if release["release"] != current]
    return others[max(0, keep - 1):]


def batches(items: list, size: int) -> list[list]:
    """Rolling order: consecutive groups of at most `size`, in the order the hosts are configured."""
    return [items[start:start + size] for start in range(0, len(items), max(1, size))]


def built_commit_problem(built_revision: str, tree_commit: str) -> str:
    """'' when the work tree is the commit the build recorded (a dirty local build counts as its commit); else why
    not. A tree without git, or a build that recorded no commit, cannot be compared and is let through."""
    built = built_revision.removesuffix("-dirty")
    if not tree_commit or not built or built == "unknown" or built == tree_commit:
        return ""
    return (f"the work tree is at {tree_commit[:12]}, but this run built {built[:12]} (reports/build.json): a deploy "
            f"ships the release that was built and approved; check out {built[:12]} (a plain Pipeline job's "
            f"`checkout scm` fetches the newest commit instead: use the Multibranch Pipeline job)")
