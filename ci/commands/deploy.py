"""`ci deploy --env ENV`: roll the built image out to the environment's hosts over SSH, with zero downtime.

Per host: lock → image by digest → new release beside the old → health → switch traffic at the proxy →
smoke test → keep or roll back. A failure on one host stops the rollout and rolls back the hosts already
switched; the previous release keeps serving throughout.
"""

import json
import sys
import uuid
from datetime import datetime, timezone

from ci import detached_workers
from ci.deploy import plan, proxy
from ci.build_plan import MODEL, PROXY
from ci.commands.approve import approval_for_deploy
from ci.commands.build import BUILD_REPORT
from ci.commands.outcome import Outcome
from ci.console import Stopwatch, info, progress
from ci.deploy.credentials import SECRET_FILE_VARIABLES, ssh_credentials
from ci.deploy.faults import FAULT_VARIABLE, parse_fault
from ci.deploy.host import HostChange, HostContext, ReleaseDeploy, unexpected
from ci.deploy.ledger import append_audit
from ci.deploy.lock import DeployLock, lock_acquire_command
from ci.deploy.names import EnvironmentNames
from ci.deploy.predictions import prediction_store_for
from ci.deploy.rollout import execute
from ci.deploy.steps import HostOutcome, deploy_owner
from ci.deploy.traffic import CutoverProbe
from ci.deploy.transaction import Abort
from ci.errors import EXIT_INTERRUPTED, CannotRun, ConfigError, UserError
from ci.executor import docker_engine, process
from ci.executor.ssh import SshHost
from ci.image_builder import build_images, plan_with_base
from ci.local_target import ensure_local_target
from ci.model_labels import VERSION_LABEL
from ci.reports import read_json_report, run_of, stale_reports, write_json_report
from ci.ssh_plan import HostAddress

NAME = "deploy"
HELP = "deploy the built image to an environment's hosts (zero downtime, smoke test, automatic rollback)"
DEPLOY_REPORT = "deploy.json"


def add_arguments(parser) -> None:
    parser.add_argument("--env", required=True, help="environment from ci.toml [environments.<name>]")
    parser.add_argument("--image", help="model image to deploy (default: the last `ci build`)")
    parser.add_argument("--approved-by", default="", help="who approved the release (recorded in the audit log)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan (hosts, commands); touch nothing")
    parser.add_argument("--if-configured", action="store_true",
                        help="an environment ci.toml does not define is skipped (exit 0, said so), not an error")


def environment_for(ctx, name: str):
    environments = ctx.config.environments
    if name not in environments:
        known = ", ".join(sorted(environments)) or "none configured"
        raise ConfigError(f"unknown environment '{name}' (ci.toml [environments.<name>]: {known})")
    return environments[name]


def release_for(ctx, explicit_image: str | None, now: datetime) -> tuple[plan.Release, dict]:
    report = read_json_report(ctx.root, BUILD_REPORT)
    if not report:
        raise CannotRun("reports/build.json is missing: run `python -m ci build` (and `ci push`) first")
    if not explicit_image:
        # The release is this run's build, of the commit checked out here: never an earlier build's, never one
        # built from a different commit than the tree that is deployed (and whose proxy image is built) here.
        stale = stale_reports({BUILD_REPORT: run_of(report)}, ctx.report_run)
        if stale:
            raise UserError(f"{stale[0]}: run `python -m ci build` (and `ci push`) in this run first")
        problem = plan.built_commit_problem(report.get("revision", ""), ctx.identity.commit)
        if problem:
            raise UserError(problem)
    model = report["images"][MODEL]
    labels = model.get("labels", {})
    pushed = report.get("push", {})
    image_id = model["image_id"]
    if explicit_image:
        client = docker_engine.connect()
        found = client.images.get(explicit_image)
        image_id, labels, pushed = found.id, found.labels, {}
    release = plan.Release(
        release_id=plan.release_id_for(image_id, now), image_id=image_id,
        digest=pushed.get("digest", image_id), model_version=labels.get(VERSION_LABEL, ""),
        commit=labels.get("org.opencontainers.image.revision", ""),
    )
    return release, {"pull_reference": pushed.get("image_by_digest", ""),
                     "registry": pushed.get("registry", "")}


def worker_command(args) -> list[str]:
    """This deploy as the command a detached worker runs (ci.executor.process.run_detached)."""
    return [sys.executable, "-m", "ci", NAME, "--env", args.env, *(["--image", args.image] if args.image else []),
            *(["--approved-by", args.approved_by] if args.approved_by else []),
            *(["--if-configured"] if args.if_configured else [])]


def detached_outcome(ctx, command: str, argv: list[str]) -> Outcome:
    """Under Jenkins: the work runs outside the build's process tree, so that an abort (which kills that tree) still
    lets it roll back and write its records; this process forwards SIGTERM/SIGINT to it and waits. The worker
    reads copies of the secret files (withCredentials deletes its own when the step fails, 20 s after an abort),
    and records itself (ci/detached_workers.py workers_dir) while it runs, so that `ci cleanup` leaves its run alone.
    What an earlier worker's killed waiter left behind (its record and secret copies) is removed first."""
    progress("under Jenkins: running outside the build's process tree, so that an abort still rolls back cleanly")
    run_id = ctx.identity.run_id
    detached_workers.remove_abandoned(detached_workers.read_records(ctx.root, ctx.environ), process.same_process)
    exit_code = process.run_detached(argv, ctx.root, ctx.environ, secret_variables=SECRET_FILE_VARIABLES,
                                     record_file=detached_workers.record_path(ctx.root, ctx.environ, run_id, command),
                                     record_facts=detached_workers.record_facts(run_id, command))
    if exit_code == EXIT_INTERRUPTED:
        raise KeyboardInterrupt
    return Outcome(exit_code, f"`{' '.join(argv[2:])}` ran detached from the build (exit {exit_code}); "
                              f"its own summary is above")


def run(args, ctx) -> Outcome:
    if not args.dry_run and process.under_build_killer(ctx.environ):
        return detached_outcome(ctx, NAME, worker_command(args))
    if args.if_configured and args.env not in ctx.config.environments:
        skipped = {"environment": args.env, "result": "skipped", "reason": "not configured in ci.toml"}
        write_json_report(ctx.root, f"deploy-{args.env}.json", skipped, ctx.report_run)
        return Outcome.ok(f"skipped: environment {args.env} is not configured (ci.toml [environments.{args.env}])")
    environment = environment_for(ctx, args.env)
    store = prediction_store_for(environment, args.env, ctx.environ)
    project = ctx.config.project.name
    now = datetime.now(timezone.utc)
    release, source = release_for(ctx, args.image, now)
    hosts = [HostAddress.parse(text) for text in environment.hosts]
    names = EnvironmentNames(project, args.env, ctx.config.deploy.state_dir)
    paths = names.paths
    store = prediction_store_for(environment, args.env, ctx.environ)
    limits = plan.ReleaseLimits.from_settings(ctx.config.deploy)  # a bad limit stops the deploy here, naming its key
    if args.dry_run:
        _print_plan(names, hosts, environment, release, store, limits)
        return Outcome.ok(f"dry run: would deploy {release.release_id} to {len(hosts)} host(s) of {args.env}")
    approval = approval_for_deploy(ctx, environment, args.approved_by, release.image_id)
    if approval.problem:
        raise UserError(f"not deploying {release.release_id} to {args.env}: {approval.problem}")

    client = docker_engine.connect()
    if environment.local_target:
        ensure_local_target(ctx, client, args.env, environment)
    base_plan, _ = plan_with_base(ctx, client)
    proxy_image = build_images(ctx, client, base_plan, (PROXY,))[PROXY]
    credentials = ssh_credentials(environment, ctx.environ, ctx.root)
    deploy_id = f"{ctx.identity.run_id}-{uuid.uuid4().hex[:6]}"
    owner = deploy_owner(ctx.environ)
    settings = ctx.config.deploy
    fault = parse_fault(ctx.environ.get(FAULT_VARIABLE, ""), HostChange.STEPS)
    abort = Abort()
    sessions = [SshHost(address, credentials.key_file, credentials.known_hosts_file) for address in hosts]
    locks = [DeployLock(session, paths, deploy_id, owner, settings.lock_wait_seconds, settings.lock_stale_seconds)
             for session in sessions]
    probe_body = _probe_body()
    changes = [ReleaseDeploy(HostContext(session, HostOutcome(str(address), url), names, settings, abort, lock,
                                         deploy_id, index, fault),
                             release, source, proxy_image["image_id"], environment, store,
                             probe=lambda url: CutoverProbe(url, probe_body, settings.probe_rate).start(),
                             smoke=_smoke)
               for index, (session, lock, address, url) in enumerate(zip(sessions, locks, hosts,
                                                                         environment.public_urls))]
    record_base = {"environment": args.env, "release": release.release_id, "commit": release.commit,
                   "image_digest": release.digest, "image_id": release.image_id,
                   "model_version": release.model_version, **approval.audit_fields(), "run_by": owner,
                   "deploy_id": deploy_id}
    watch = Stopwatch()
    try:
        rollout = execute(changes, sessions, locks, environment.batch_size, abort, record_base, "deploy",
                          append_audit)
    finally:
        credentials.cleanup()
    outcomes = [change.outcome for change in changes]
    failure = rollout.failure
    report = {**record_base, "time": now.isoformat(timespec="seconds"), "hosts": [o.__dict__ for o in outcomes],
              "failed_requests_during_cutover": sum(o.durations.get("failed_requests", 0) for o in outcomes),
              "deploy_seconds": round(watch.seconds, 2),
              "result": "success" if failure is None else "interrupted" if rollout.interrupted else "failed",
              "reason": "" if failure is None else str(unexpected(failure))}
    write_json_report(ctx.root, DEPLOY_REPORT, report, ctx.report_run)
    # Jenkins deploys to several environments in one build; each keeps its own record beside the latest one.
    write_json_report(ctx.root, f"deploy-{args.env}.json", report, ctx.report_run)
    if rollout.interrupted:
        raise KeyboardInterrupt
    if failure is not None:
        cause = unexpected(failure)
        undone = all(o.result in ("rolled back", "not deployed") for o in outcomes)
        error = UserError(f"deploy of {release.release_id} to {args.env} failed and was "
                          f"{'rolled back' if undone else 'NOT fully rolled back (see reports/deploy.json)'}: "
                          f"{cause}")
        error.exit_code = cause.exit_code
        raise error
    urls = ", ".join(outcome.public_url for outcome in outcomes)
    return Outcome.ok(f"{release.release_id} serves on {len(hosts)} host(s) of {args.env} ({urls}); "
                      f"{report['failed_requests_during_cutover']} failed requests during cutover")


def _smoke(public_url: str, cancelled) -> str:
    """The acceptance tier's smoke checks against the host's public port; '' when they pass. Cancelled with the
    deploy: the smoke run gets SIGTERM and removes its runner container before the deploy undoes."""
    progress(f"smoke test against {public_url}")
    result = process.run_cancellable([sys.executable, "-m", "ci", "test", "acceptance", "--base-url", public_url,
                                      "--smoke"], timeout=600, cancelled=cancelled)
    if result.returncode == 0:
        return ""
    last = [line for line in result.stderr.splitlines() if line.startswith("[")][-1:] or ["no summary"]
    return f"smoke test failed: {last[0]}"


def _probe_body() -> bytes:
    from model_app.dataset import example_request

    return json.dumps(example_request()).encode()


def _print_plan(names: EnvironmentNames, hosts, environment, release: plan.Release, store, limits) -> None:
    env, paths = names.env, names.paths
    info(f"deploy {release.release_id} (image {release.image_id[:19]}, digest {release.digest[:19]}) to {env}:")
    for address, url in zip(hosts, environment.public_urls):
        info(f"  host {address} (public {url}), state in {paths.base}")
        info(f"    lock:    {' '.join(lock_acquire_command(paths, 'DEPLOY_ID', 'OWNER'))}")
        info(f"    proxy:   {' '.join(proxy.proxy_run_command(names.proxy, names.proxy_labels(), 'PROXY_IMAGE', environment.public_port, names.network, paths.proxy_dir))}")  # noqa: E501
        info(f"    release: {' '.join(plan.run_release_command(names, release, store, limits))}")
        info(f"    switch:  proxy slots blue/green via {proxy.HELPER} (see ci/deploy/proxy.py); smoke: "
             f"python -m ci test acceptance --base-url {url} --smoke")
