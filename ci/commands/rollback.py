"""`ci rollback --env ENV [--to RELEASE]`: switch every host back to a retained release, behind the same health gate."""

import sys
import uuid

from ci.commands.deploy import detached_outcome, environment_for
from ci.commands.outcome import Outcome
from ci.console import Stopwatch
from ci.deploy.credentials import ssh_credentials
from ci.deploy.faults import FAULT_VARIABLE, parse_fault
from ci.deploy.host import HostChange, HostContext, ReleaseRollback, unexpected
from ci.deploy.ledger import append_audit
from ci.deploy.lock import DeployLock
from ci.deploy.names import EnvironmentNames
from ci.deploy.plan import rollback_target
from ci.deploy.rollout import execute
from ci.deploy.steps import HostOutcome, deploy_owner
from ci.deploy.transaction import Abort
from ci.errors import UserError
from ci.executor import process
from ci.executor.ssh import SshHost
from ci.reports import write_json_report
from ci.ssh_plan import HostAddress

NAME = "rollback"
HELP = "switch an environment back to a retained release (default: the one before the current)"


def add_arguments(parser) -> None:
    parser.add_argument("--env", required=True, help="environment from ci.toml [environments.<name>]")
    parser.add_argument("--to", dest="release", help="release id to return to (see `ci releases`)")


def worker_command(args) -> list[str]:
    return [sys.executable, "-m", "ci", NAME, "--env", args.env, *(["--to", args.release] if args.release else [])]


def run(args, ctx) -> Outcome:
    if process.under_build_killer(ctx.environ):
        return detached_outcome(ctx, NAME, worker_command(args))
    environment = environment_for(ctx, args.env)
    settings = ctx.config.deploy
    names = EnvironmentNames(ctx.config.project.name, args.env, settings.state_dir)
    credentials = ssh_credentials(environment, ctx.environ, ctx.root)
    owner = deploy_owner(ctx.environ)
    deploy_id = f"{ctx.identity.run_id}-rollback-{uuid.uuid4().hex[:6]}"
    fault = parse_fault(ctx.environ.get(FAULT_VARIABLE, ""), HostChange.STEPS)
    abort = Abort()
    hosts = [HostAddress.parse(text) for text in environment.hosts]
    sessions = [SshHost(address, credentials.key_file, credentials.known_hosts_file) for address in hosts]
    locks = [DeployLock(session, names.paths, deploy_id, owner, settings.lock_wait_seconds,
                        settings.lock_stale_seconds) for session in sessions]
    changes = [ReleaseRollback(HostContext(session, HostOutcome(str(address), url), names, settings, abort, lock,
                                           deploy_id, index, fault), args.release, rollback_target)
               for index, (session, lock, address, url) in enumerate(zip(sessions, locks, hosts,
                                                                         environment.public_urls))]
    record_base = {"environment": args.env, "run_by": owner, "deploy_id": deploy_id}
    watch = Stopwatch()
    try:
        rollout = execute(changes, sessions, locks, environment.batch_size, abort, record_base, "rollback",
                          _append_with_release_facts(changes))
    finally:
        credentials.cleanup()
    outcomes = [change.outcome for change in changes]
    failure = rollout.failure
    write_json_report(ctx.root, "rollback.json",
                      {"environment": args.env, "hosts": [outcome.__dict__ for outcome in outcomes],
                       "rollback_seconds": round(watch.seconds, 2),
                       "result": "success" if failure is None else "interrupted" if rollout.interrupted else "failed",
                       "reason": "" if failure is None else str(unexpected(failure))}, ctx.report_run)
    if rollout.interrupted:
        raise KeyboardInterrupt
    if failure is not None:
        cause = unexpected(failure)
        error = UserError(f"rollback of {args.env} failed; every host still serves what it served before: {cause}"
                          if all(o.result in ("rolled back", "not deployed") for o in outcomes) else
                          f"rollback of {args.env} failed part way (see reports/rollback.json): {cause}")
        error.exit_code = cause.exit_code
        raise error
    targets = sorted({outcome.release for outcome in outcomes})
    switch = max((outcome.durations.get("switch_seconds", 0) for outcome in outcomes), default=0)
    return Outcome.ok(f"{args.env} serves {', '.join(targets)} again on {len(outcomes)} host(s) after "
                      f"{watch.seconds:.1f}s (traffic switched in {switch:.1f}s)")


def _append_with_release_facts(changes):
    """Audit records of a rollback name the release returned to by its digest, model version and commit."""
    targets = {id(change.session): change for change in changes}

    def append(session, paths, record):
        target = targets[id(session)].target
        return append_audit(session, paths, {**record, "image_digest": target.get("digest", ""),
                                             "model_version": target.get("model_version", ""),
                                             "commit": target.get("commit", "")})
    return append
