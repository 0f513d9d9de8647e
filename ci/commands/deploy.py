"""`ci deploy --env ENV`: roll the built image out to the environment's hosts over SSH, with zero downtime.

Per host: lock → image by digest → new release beside the old → health → switch traffic at the proxy →
smoke test → keep or roll back. A failure on one host stops the rollout and rolls back the hosts already
switched; the previous release keeps serving throughout.
"""

import json
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

from ci import detached_workers
from ci.deploy import plan, proxy
from ci.build_plan import MODEL, PROXY
from ci.commands.build import BUILD_REPORT
from ci.commands.outcome import Outcome
from ci.console import Stopwatch, info, progress
from ci.deploy.credentials import SECRET_FILE_VARIABLES, ssh_credentials
from ci.deploy.ledger import append_audit
from ci.deploy.lock import DeployLock, lock_acquire_command
from ci.deploy.names import EnvironmentNames
from ci.deploy.predictions import prediction_store_for
from ci.deploy.steps import HostOutcome, deploy_owner, ensure_image, wait_healthy
from ci.deploy.traffic import CutoverProbe, Traffic, ensure_proxy
from ci.errors import EXIT_INTERRUPTED, CannotRun, CheckFailed, ConfigError, UserError
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
    if args.dry_run:
        _print_plan(names, hosts, environment, release, store)
        return Outcome.ok(f"dry run: would deploy {release.release_id} to {len(hosts)} host(s) of {args.env}")

    client = docker_engine.connect()
    if environment.local_target:
        ensure_local_target(ctx, client, args.env, environment)
    base_plan, _ = plan_with_base(ctx, client)
    proxy_image = build_images(ctx, client, base_plan, (PROXY,))[PROXY]
    credentials = ssh_credentials(environment, ctx.environ, ctx.root)
    deploy_id = f"{ctx.identity.run_id}-{uuid.uuid4().hex[:6]}"
    owner = deploy_owner(ctx.environ)
    sessions = [SshHost(address, credentials.key_file, credentials.known_hosts_file) for address in hosts]
    outcomes = [HostOutcome(str(address), url) for address, url in zip(hosts, environment.public_urls)]
    locks: list[DeployLock] = []
    watch = Stopwatch()
    switched: list[tuple[SshHost, HostOutcome, Traffic, str]] = []
    failure: UserError | None = None
    interrupted = False
    try:
        for session in sessions:
            lock = DeployLock(session, paths, deploy_id, owner, ctx.config.deploy.lock_wait_seconds,
                              ctx.config.deploy.lock_stale_seconds)
            lock.acquire()
            locks.append(lock)
        for batch in plan.batches(list(zip(sessions, outcomes)), environment.batch_size):
            # Hosts of one batch are updated at the same time; the next batch starts once all of them passed.
            with ThreadPoolExecutor(max_workers=len(batch)) as pool:
                futures = [pool.submit(_deploy_host, ctx, session, outcome, environment, release, source,
                                       proxy_image, names, store) for session, outcome in batch]
            errors = []
            for (session, outcome), future in zip(batch, futures):
                try:
                    traffic, previous_slot = future.result()
                    switched.append((session, outcome, traffic, previous_slot))
                except UserError as error:
                    errors.append(error)
            if errors:
                raise errors[0]
        for session, outcome, _, _ in switched:
            _retire_previous(ctx, session, outcome, names, release)
    except (UserError, KeyboardInterrupt) as error:
        interrupted = isinstance(error, KeyboardInterrupt)
        failure = CannotRun("interrupted") if interrupted else error
        _roll_back(switched, names, release, ctx.config.deploy.drain_seconds, reason=str(failure))
        for outcome in outcomes:
            if outcome.result == "pending":
                outcome.result, outcome.reason = "not deployed", "an earlier host failed"
    finally:
        record_base = {"environment": args.env, "release": release.release_id, "commit": release.commit,
                       "image_digest": release.digest, "image_id": release.image_id,
                       "model_version": release.model_version, "approved_by": args.approved_by or
                       ctx.environ.get("APPROVED_BY", ""), "run_by": owner, "deploy_id": deploy_id}
        for session, outcome in zip(sessions, outcomes):
            if outcome.result != "pending" and session in [lock.host for lock in locks]:
                _audit(session, paths, record_base, outcome)
        for lock in reversed(locks):
            lock.release()
        for session in sessions:
            session.close()
        credentials.cleanup()
    report = {**record_base, "time": now.isoformat(timespec="seconds"), "hosts": [o.__dict__ for o in outcomes],
              "failed_requests_during_cutover": sum(o.durations.get("failed_requests", 0) for o in outcomes),
              "deploy_seconds": round(watch.seconds, 2),
              "result": "success" if failure is None else "failed"}
    write_json_report(ctx.root, DEPLOY_REPORT, report, ctx.report_run)
    # Jenkins deploys to several environments in one build; each keeps its own record beside the latest one.
    write_json_report(ctx.root, f"deploy-{args.env}.json", report, ctx.report_run)
    if interrupted:
        raise KeyboardInterrupt
    if failure is not None:
        error = UserError(f"deploy of {release.release_id} to {args.env} failed and was rolled back: {failure}")
        error.exit_code = failure.exit_code
        raise error
    urls = ", ".join(outcome.public_url for outcome in outcomes)
    return Outcome.ok(f"{release.release_id} serves on {len(hosts)} host(s) of {args.env} ({urls}); "
                      f"{report['failed_requests_during_cutover']} failed requests during cutover")


def _deploy_host(ctx, session: SshHost, outcome: HostOutcome, environment, release: plan.Release, source: dict,
                 proxy_image: dict, names: EnvironmentNames, store):
    watch = Stopwatch()
    settings = ctx.config.deploy
    paths = names.paths
    proxy_name = ensure_proxy(session, names, proxy_image["image_id"], environment.public_port)
    traffic = Traffic(session, proxy_name, names.network)
    progress(f"{session.address}: getting image {release.image_id[:19]} onto the host")
    outcome.transfer = ensure_image(session, release.image_id, source["pull_reference"], source["registry"],
                                    environment.image_transfer)
    previous = session.text(plan.read_current_command(paths))
    previous_container = names.container(previous)
    previous_slot = traffic.slot_serving(previous_container) if previous else ""
    outcome.previous = previous
    outcome.release = release.release_id
    container = names.container(release.release_id)
    progress(f"{session.address}: starting {container} beside {previous or 'no previous release'}")
    session.run(["docker", "rm", "--force", container], check=False)
    session.run(plan.run_release_command(names, release, store), input_bytes=store.run_input())
    try:
        outcome.durations["health_seconds"] = round(wait_healthy(session, container,
                                                                 settings.health_timeout_seconds), 2)
    except UserError:
        session.run(["docker", "rm", "--force", container], check=False)
        outcome.result, outcome.reason = "rolled back", "health check failed"
        raise
    cutover = Stopwatch()
    if not previous_slot:
        # A first deploy has nothing serving before the switch: the probe starts once traffic has somewhere to go.
        progress(f"{session.address}: first release here: routing traffic to {container}")
        traffic.switch_to(container, "", settings.health_timeout_seconds, settings.drain_seconds)
    with CutoverProbe(outcome.public_url, _probe_body(), settings.probe_rate) as probe:
        if previous_slot:
            progress(f"{session.address}: switching traffic from {previous} to {container}")
            traffic.switch_to(container, previous_slot, settings.health_timeout_seconds, settings.drain_seconds)
        outcome.durations["cutover_seconds"] = round(cutover.seconds, 2)
        smoke_error = _smoke(outcome.public_url)
    outcome.durations["failed_requests"] = probe.failed
    outcome.durations["probe_requests"] = probe.sent
    if smoke_error or probe.failed:
        reason = smoke_error or f"{probe.failed} of {probe.sent} requests failed during cutover ({probe.errors})"
        _switch_back(session, traffic, previous_container, container, settings.drain_seconds)
        outcome.result, outcome.reason = "rolled back", reason
        raise CheckFailed(f"{session.address}: {reason}")
    outcome.durations["deploy_seconds"] = round(watch.seconds, 2)
    outcome.result = "switched"
    return traffic, previous_slot


def _retire_previous(ctx, session: SshHost, outcome: HostOutcome, names: EnvironmentNames,
                     release: plan.Release) -> None:
    paths = names.paths
    """The rollout succeeded everywhere: record the new current release, stop the old, prune beyond the kept."""
    session.run(plan.write_current_command(paths, release.release_id))
    if outcome.previous and outcome.previous != release.release_id:
        session.run(plan.stop_release_command(names.container(outcome.previous)), check=False)
    releases = plan.parse_releases(session.text(plan.list_releases_command(names)), names.env)
    for old in plan.releases_to_remove(releases, release.release_id, ctx.config.deploy.keep_releases):
        session.run(["docker", "rm", "--force", old["container"]], check=False)
        session.run(["docker", "image", "rm", old["image"]], check=False)
    outcome.result = "success"


def _roll_back(switched, names: EnvironmentNames, release: plan.Release, drain_seconds: int, reason: str) -> None:
    for session, outcome, traffic, _ in reversed(switched):
        watch = Stopwatch()
        previous_container = names.container(outcome.previous)
        try:
            _switch_back(session, traffic, previous_container, names.container(release.release_id), drain_seconds)
            outcome.result, outcome.reason = "rolled back", f"another host failed: {reason}"
        except UserError as error:
            outcome.result, outcome.reason = "rollback failed", str(error)
        outcome.durations["rollback_seconds"] = round(watch.seconds, 2)


def _switch_back(session: SshHost, traffic: Traffic, previous_container: str, new_container: str,
                 drain_seconds: int) -> None:
    if previous_container:
        new_slot = traffic.slot_serving(new_container)
        traffic.switch_to(previous_container, new_slot, 60, drain_seconds)
    for command in plan.remove_release_commands(new_container):
        session.run(command, check=False)


def _smoke(public_url: str) -> str:
    """The acceptance tier's smoke checks against the host's public port; '' when they pass."""
    progress(f"smoke test against {public_url}")
    result = subprocess.run([sys.executable, "-m", "ci", "test", "acceptance", "--base-url", public_url, "--smoke"],
                            capture_output=True, text=True, timeout=600)
    if result.returncode == 0:
        return ""
    last = [line for line in result.stderr.splitlines() if line.startswith("[")][-1:] or ["no summary"]
    return f"smoke test failed: {last[0]}"


def _probe_body() -> bytes:
    from model_app.dataset import example_request

    return json.dumps(example_request()).encode()


def _audit(session: SshHost, paths, record_base: dict, outcome: HostOutcome) -> None:
    record = {**record_base, "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "action": "deploy", "host": outcome.host, "previous": outcome.previous, "result": outcome.result,
              "reason": outcome.reason, "durations": outcome.durations, "transfer": outcome.transfer}
    try:
        append_audit(session, paths, record)
    except UserError as error:
        info(f"  warning: could not append to the audit log on {outcome.host}: {error}")


def _print_plan(names: EnvironmentNames, hosts, environment, release: plan.Release, store) -> None:
    env, paths = names.env, names.paths
    info(f"deploy {release.release_id} (image {release.image_id[:19]}, digest {release.digest[:19]}) to {env}:")
    for address, url in zip(hosts, environment.public_urls):
        info(f"  host {address} (public {url}), state in {paths.base}")
        info(f"    lock:    {' '.join(lock_acquire_command(paths, 'DEPLOY_ID', 'OWNER'))}")
        info(f"    proxy:   {' '.join(proxy.proxy_run_command(names.proxy, names.proxy_labels(), 'PROXY_IMAGE', environment.public_port, names.network, paths.proxy_dir))}")  # noqa: E501
        info(f"    release: {' '.join(plan.run_release_command(names, release, store))}")
        info(f"    switch:  proxy slots blue/green via {proxy.HELPER} (see ci/deploy/proxy.py); smoke: "
             f"python -m ci test acceptance --base-url {url} --smoke")
