"""`ci rollback --env ENV [--to RELEASE]`: switch every host back to a retained release, behind the same health gate."""

import sys
from datetime import datetime, timezone

from ci.deploy import plan
from ci.commands.deploy import detached_outcome, environment_for
from ci.commands.outcome import Outcome
from ci.console import Stopwatch, progress
from ci.deploy.credentials import ssh_credentials
from ci.deploy.ledger import append_audit
from ci.deploy.lock import DeployLock
from ci.deploy.names import EnvironmentNames
from ci.deploy.steps import deploy_owner, wait_healthy
from ci.deploy.traffic import Traffic
from ci.errors import CannotRun, UserError
from ci.executor import process
from ci.executor.ssh import SshHost
from ci.reports import write_json_report
from ci.ssh_plan import HostAddress

NAME = "rollback"
HELP = "switch an environment back to a retained release (default: the one before the current)"


def add_arguments(parser) -> None:
    parser.add_argument("--env", required=True, help="environment from ci.toml [environments.<name>]")
    parser.add_argument("--to", dest="release", help="release id to return to (see `ci releases`)")


def rollback_target(releases: list[dict], current: str, wanted: str | None) -> dict:
    """The retained release to return to: the one asked for, else the newest one older than the current."""
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
    return older[0]


def worker_command(args) -> list[str]:
    return [sys.executable, "-m", "ci", NAME, "--env", args.env, *(["--to", args.release] if args.release else [])]


def run(args, ctx) -> Outcome:
    if process.under_build_killer(ctx.environ):
        return detached_outcome(ctx, NAME, worker_command(args))
    environment = environment_for(ctx, args.env)
    project, settings = ctx.config.project.name, ctx.config.deploy
    names = EnvironmentNames(project, args.env, settings.state_dir)
    paths = names.paths
    credentials = ssh_credentials(environment, ctx.environ, ctx.root)
    owner = deploy_owner(ctx.environ)
    deploy_id = f"{ctx.identity.run_id}-rollback"
    results = []
    watch = Stopwatch()
    try:
        for text, url in zip(environment.hosts, environment.public_urls):
            session = SshHost(HostAddress.parse(text), credentials.key_file, credentials.known_hosts_file)
            lock = DeployLock(session, paths, deploy_id, owner, settings.lock_wait_seconds, settings.lock_stale_seconds)
            try:
                lock.acquire()
                results.append(_roll_back_host(session, names, args.release, settings, owner))
            finally:
                lock.release()
                session.close()
    finally:
        credentials.cleanup()
    write_json_report(ctx.root, "rollback.json",
                      {"environment": args.env, "hosts": results, "rollback_seconds": round(watch.seconds, 2)},
                      ctx.report_run)
    target = results[0]["release"] if results else "?"
    return Outcome.ok(f"{args.env} serves {target} again on {len(results)} host(s) after {watch.seconds:.1f}s")


def _roll_back_host(session: SshHost, names: EnvironmentNames, wanted: str | None, settings, owner: str) -> dict:
    paths, env = names.paths, names.env
    watch = Stopwatch()
    current = session.text(plan.read_current_command(paths))
    releases = plan.parse_releases(session.text(plan.list_releases_command(names)), env)
    target = rollback_target(releases, current, wanted)
    container = target["container"]
    progress(f"{session.address}: returning to {target['release']} (from {current or 'nothing'})")
    session.run(["docker", "start", container])
    wait_healthy(session, container, settings.health_timeout_seconds)
    traffic = Traffic(session, names.proxy, names.network)
    current_container = names.container(current)
    old_slot = traffic.slot_serving(current_container) if current else ""
    traffic.switch_to(container, old_slot, settings.health_timeout_seconds, settings.drain_seconds)
    session.run(plan.write_current_command(paths, target["release"]))
    if current_container:
        session.run(plan.stop_release_command(current_container), check=False)
    record = {"time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "action": "rollback",
              "environment": env, "host": str(session.address), "release": target["release"], "previous": current,
              "image_digest": target["digest"], "model_version": target["model_version"], "commit": target["commit"],
              "run_by": owner, "result": "success", "durations": {"rollback_seconds": round(watch.seconds, 2)}}
    append_audit(session, paths, record)
    return record
