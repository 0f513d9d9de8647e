"""Deploys as data: names, paths and the remote commands for locks, releases and the audit log on a target host."""

import json
import re
import shlex
from dataclasses import dataclass
from datetime import datetime, timezone

from ci.deploy.names import (DIGEST_LABEL, ENVIRONMENT_LABEL, LEGACY_ENVIRONMENT_LABEL, LEGACY_MODEL_VERSION_LABEL,
                             MODEL_VERSION_LABEL, RELEASE_LABEL, COMMIT_LABEL, EnvironmentNames, RemotePaths,
                             label_arguments)
from ci.deploy.predictions import PredictionStore
from ci.build_plan import PROJECT_LABEL
from ci.errors import CannotRun, ConfigError, UserError

# A release's graceful shutdown: uvicorn lets in-flight requests finish for up to this long, then the prediction log
# drains its queue for up to as long again (model_app/serve.py, ModelService.shutdown). Set on every release, so that
# the stop timeout is derived from the value the release really uses, not from the image's default.
RELEASE_SHUTDOWN_SECONDS = 10
# Docker's SIGKILL comes only after both, with room for the interpreter to exit: a stopped release loses no prediction.
RELEASE_STOP_SECONDS = 2 * RELEASE_SHUTDOWN_SECONDS + 5


@dataclass(frozen=True)
class Release:
    release_id: str
    image_id: str
    digest: str
    model_version: str
    commit: str


def release_id_for(image_id: str, now: datetime) -> str:
    """Sortable by time, and says which image: 20261126T101500-0c89f6af6c8e."""
    return f"{now.astimezone(timezone.utc):%Y%m%dT%H%M%S}-{image_id.removeprefix('sha256:')[:12]}"


READY_CHECK = "python -m model_app.healthcheck"

_MEMORY = re.compile(r"(\d+)([bkmg]?)")
_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30}
# Below these a release cannot load its model and serve (measured: ~150 MiB resident, ~30 threads).
MIN_RELEASE_MEMORY = 256 * 2**20
MIN_RELEASE_PIDS = 32
# The prediction log may hold at most this share of the release's memory while its store is slow or down.
LOG_QUEUE_SHARE = 8


@dataclass(frozen=True)
class ReleaseLimits:
    """What a release may take of its host: memory (as docker writes it, e.g. 512m; swap none beyond it) and
    processes. Capabilities are all dropped and no process may gain privileges: the service needs none."""

    memory: str = "512m"
    pids_limit: int = 256

    @classmethod
    def from_settings(cls, settings) -> "ReleaseLimits":
        limits = cls(str(settings.release_memory).strip().lower(), settings.release_pids_limit)
        if limits.memory_bytes < MIN_RELEASE_MEMORY:
            raise ConfigError(f"deploy.release_memory must be a size docker understands (512m, 1g) of at least "
                              f"{MIN_RELEASE_MEMORY // 2**20}m, not {settings.release_memory!r}")
        if limits.pids_limit < MIN_RELEASE_PIDS:
            raise ConfigError(f"deploy.release_pids_limit must be at least {MIN_RELEASE_PIDS}, "
                              f"not {settings.release_pids_limit}")
        return limits

    @property
    def memory_bytes(self) -> int:
        """The memory limit in bytes; 0 when it is not a size docker understands."""
        match = _MEMORY.fullmatch(self.memory)
        return int(match[1]) * _UNITS[match[2]] if match else 0

    def run_arguments(self) -> list[str]:
        return ["--cap-drop", "ALL", "--security-opt", "no-new-privileges",
                "--memory", self.memory, "--memory-swap", self.memory, "--pids-limit", str(self.pids_limit),
                "--env", f"PREDICTION_LOG_QUEUE_BYTES={min(64 * 2**20, self.memory_bytes // LOG_QUEUE_SHARE)}"]


def run_release_command(names: EnvironmentNames, release: Release, store: PredictionStore = PredictionStore(),
                        limits: ReleaseLimits = ReleaseLimits()) -> list[str]:
    """The release container: on the environment's network, no published port (traffic comes via the proxy), its
    predictions in the environment's store (run it with store.run_input() as its standard input), within its
    limits."""
    container = names.container(release.release_id)
    return [
        "docker", "run", "--detach", "--name", container,
        "--network", names.network, "--network-alias", container,
        "--restart", "unless-stopped", "--read-only", "--stop-timeout", str(RELEASE_STOP_SECONDS),
        *limits.run_arguments(),
        *store.run_arguments(names),
        # Docker's own check, for `docker ps` and a restarted release: every 5 s, not every second (each check starts
        # a Python process in every release, those in their grace period too). A deploy waiting for a new release
        # does not wait for it: it runs the same check at once (ready_probe_command).
        "--health-cmd", READY_CHECK, "--health-interval", "5s",
        "--health-timeout", "3s", "--health-retries", "3", "--health-start-period", "0s",
        "--env", f"RELEASE_ID={release.release_id}",
        "--env", f"SHUTDOWN_TIMEOUT_SECONDS={RELEASE_SHUTDOWN_SECONDS}",
        *label_arguments(names.release_labels(release)),
        release.image_id,
    ]


def ready_probe_command(container: str) -> list[str]:
    """The release's health check, run once now: exit 0 when it answers /ready."""
    return ["docker", "exec", container, *READY_CHECK.split()]


def stop_release_command(container: str) -> list[str]:
    """Every stop of a release: SIGTERM, then SIGKILL only once its requests and its log's queue had their time."""
    return ["docker", "stop", "--time", str(RELEASE_STOP_SECONDS), container]


def remove_release_commands(container: str) -> list[list[str]]:
    """A release that has answered requests is stopped before it is removed: `docker rm --force` kills it at once,
    and the predictions still in its queue with it."""
    return [stop_release_command(container), ["docker", "rm", "--force", container]]


def health_command(container: str) -> list[str]:
    return ["docker", "inspect", "--format", "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}"
            "{{else}}none{{end}}", container]


def container_ip_command(container: str, network: str) -> list[str]:
    return ["docker", "inspect", "--format", f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}',
            container]


def list_releases_command(names: EnvironmentNames) -> list[str]:
    """Every release container of the project on the host; parse_releases keeps the environment's."""
    return ["docker", "ps", "--all", "--no-trunc", "--filter", f"label={PROJECT_LABEL}={names.project}",
            "--filter", f"label={RELEASE_LABEL}", "--format", "{{json .}}"]


def image_present_command(image_id: str) -> list[str]:
    return ["docker", "image", "inspect", "--format", "{{.Id}}", image_id]


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


def stop_after_grace_command(names: EnvironmentNames, release_id: str, grace_seconds: int, token: str) -> list[str]:
    """Stop a release once the grace period is over, unless it has become current again or a later retirement of
    it (another token: the deploy that retired it) replaced this one: a detached sleeper on the host, so nothing of
    the agent needs to stay."""
    paths = names.paths
    marker = shlex.quote(f"{paths.base}/retiring-{release_id}")
    container = shlex.quote(names.container(release_id))
    token = shlex.quote(token)
    check = (f"sleep {int(grace_seconds)}; [ \"$(cat {marker} 2>/dev/null)\" = {token} ] || exit 0; "
             f"rm -f {marker}; [ \"$(cat {shlex.quote(paths.current)} 2>/dev/null)\" = {shlex.quote(release_id)} ]"
             f" || docker stop --time {RELEASE_STOP_SECONDS} {container}")
    return sh(f"printf '%s' {token} > {marker} && (setsid sh -c {shlex.quote(check)} </dev/null >/dev/null 2>&1 &)")


def write_current_command(paths: RemotePaths, release_id: str) -> list[str]:
    """Write then rename: a cut connection leaves the old value or the new one, never half a file."""
    current = shlex.quote(paths.current)
    return sh(f"printf '%s' {shlex.quote(release_id)} > {current}.tmp && mv {current}.tmp {current}")


def read_current_command(paths: RemotePaths) -> list[str]:
    return sh(f"cat {shlex.quote(paths.current)} 2>/dev/null || true")


def parse_releases(docker_ps_json_lines: str, env: str) -> list[dict]:
    """`docker ps --format '{{json .}}'` lines -> env's [{release, container, state, created, digest, model_version}]
    (releases deployed before the labels were unified carry io.mlci.env and io.mlci.model-version)."""
    releases = []
    for line in docker_ps_json_lines.splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        labels = dict(item.split("=", 1) for item in entry.get("Labels", "").split(",") if "=" in item)
        if labels.get(ENVIRONMENT_LABEL, labels.get(LEGACY_ENVIRONMENT_LABEL)) != env:
            continue
        releases.append({
            "release": labels.get(RELEASE_LABEL, ""), "container": entry.get("Names", ""),
            "state": entry.get("State", ""), "status": entry.get("Status", ""),
            "created": entry.get("CreatedAt", ""), "digest": labels.get(DIGEST_LABEL, ""),
            "model_version": labels.get(MODEL_VERSION_LABEL, labels.get(LEGACY_MODEL_VERSION_LABEL, "")),
            "commit": labels.get(COMMIT_LABEL, ""),
            "image": entry.get("Image", ""),
        })
    return sorted(releases, key=lambda release: release["release"], reverse=True)


def releases_to_remove(releases: list[dict], current: str, keep: int, also_keep: str = "") -> list[dict]:
    """Keep the current release and the newest others up to `keep` in all; never the current one, nor also_keep
    (the release that served before, kept running for an instant rollback)."""
    others = [release for release in releases if release["release"] != current]
    return [release for release in others[max(0, keep - 1):] if release["release"] != also_keep]


def rollback_target(releases: list[dict], current: str, wanted: str | None) -> dict:
    """The retained release to return to: the one asked for; else, of those older than the current, the one still
    running (the release that served before, kept for the grace period), else the newest."""
    candidates = [release for release in releases if release["release"] != current]
    if wanted:
        for release in candidates:
            if release["release"] == wanted:
                return release
        known = ", ".join(release["release"] for release in candidates) or "none"
        raise UserError(f"release {wanted} is not retained on this host (retained: {known})")
    older = [release for release in candidates if release["release"] < current]
    if not older:
        raise CannotRun("no earlier release is retained on this host to roll back to")
    return next((release for release in older if release["state"] == "running"), older[0])


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
