"""`ci jenkins ACTION`: keep the Multibranch Pipeline job in Jenkins, start and follow its builds, answer its inputs."""

import argparse
import sys
import time

from ci.commands import jenkins_doctor, jenkins_inputs
from ci.commands.jenkins_inputs import branch_ref
from ci.commands.outcome import Outcome
from ci.config import JenkinsConfig
from ci.console import info, progress
from ci.errors import CannotRun, UserError
from ci.executor.jenkins import JenkinsSession
from ci.jenkins.answers import (QueueState, build_status, check_parameters, describe_build, exit_code_for_result,
                                format_duration, job_parameter_names, parse_parameters, queue_state, unbuilt_tag_note)
from ci.jenkins.connection import connection_from, connection_warnings
from ci.jenkins.failures import JenkinsFailure, error_for_failure
from ci.jenkins.job_xml import job_config_xml, sync_plan
from ci.jenkins.paths import JobRef, branch_item_name, project_job, tags_view_path
from ci.jenkins.webhook import webhook_line

NAME = "jenkins"
HELP = "the Jenkins multibranch job: sync-job, doctor, trigger, status, logs, pending, approve, reject"

POLL_SECONDS = 2.0
TIMEOUT_SECONDS = 7200
RECENT_BUILDS = 10


def add_arguments(parser) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--insecure", action="store_true",
                        help="do not verify Jenkins's TLS certificate (as JENKINS_TLS_VERIFY=false); warns loudly")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, summary: str) -> argparse.ArgumentParser:
        return actions.add_parser(name, parents=[common], help=summary, description=summary)

    sync = action("sync-job", "create or update the Multibranch Pipeline job from ci.toml [jenkins], showing a "
                              "diff; 'unchanged' when it already matches")
    sync.add_argument("--dry-run", action="store_true", help="show what would change and change nothing")
    action("doctor", "check the Jenkins this pipeline will run on, one line per check with its fix; exit 0 only "
                     "when all pass")

    trigger = action("trigger", "start a build of a branch job and report its number; --wait streams its console "
                                "and exits with its result")
    _add_branch_option(trigger)
    trigger.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                         help="a build parameter the job declares (repeatable)")
    trigger.add_argument("--wait", action="store_true",
                         help="follow the console; exit 0 SUCCESS, 1 UNSTABLE or FAILURE, 130 ABORTED, 3 NOT_BUILT")
    _add_follow_options(trigger)

    status = action("status", "the last (or --build N) build of a branch job: number, result, duration, URL")
    _add_branch_option(status)
    status.add_argument("--build", type=int, help="build number (default: the last build)")

    logs = action("logs", "a build's console text; --follow prints it as it grows, until the build ends")
    _add_branch_option(logs)
    logs.add_argument("--build", type=int, help="build number (default: the last build)")
    logs.add_argument("--follow", action="store_true", help="keep printing as the console grows")
    _add_follow_options(logs)

    pending = action("pending", "builds waiting at an approval input, with their evidence (reports/) links")
    pending.add_argument("--branch", help="only this branch or tag (default: every branch and tag job)")
    _add_recent_option(pending)

    for verb, effect in (("approve", "proceed"), ("reject", "abort")):
        settle = action(verb, f"{effect} a pending input as JENKINS_USER (Jenkins checks the input's submitters)")
        settle.add_argument("--branch", help="the branch or tag job (default: every one; with --build, the "
                                             "release branch of ci.toml [jenkins] branch)")
        settle.add_argument("--build", type=int, help="the waiting build (default: the only one waiting)")
        settle.add_argument("--input", dest="input_id", help="the input's id (default: the build's only input)")
        _add_recent_option(settle)


def _add_branch_option(parser) -> None:
    parser.add_argument("--branch", help="the branch or tag whose job to use (default: ci.toml [jenkins] branch)")


def _add_follow_options(parser) -> None:
    parser.add_argument("--poll", type=float, default=POLL_SECONDS,
                        help=f"seconds between requests for new console text or queue state (default {POLL_SECONDS})")
    parser.add_argument("--timeout", type=float, default=TIMEOUT_SECONDS,
                        help=f"stop waiting after this many seconds, exit 3 (default {TIMEOUT_SECONDS})")


def _add_recent_option(parser) -> None:
    parser.add_argument("--recent", type=int, default=RECENT_BUILDS,
                        help=f"how many of the newest builds of each job to look at (default {RECENT_BUILDS})")


def run(args, ctx) -> Outcome:
    jenkins = ctx.config.jenkins
    if args.action == "sync-job":
        job_config_xml(jenkins)  # a missing scm_url is reported before anything is sent
    for option in ("poll", "timeout", "recent"):
        if getattr(args, option, 1) <= 0:
            raise UserError(f"--{option} must be positive")
    connection = connection_from(ctx.environ, insecure=args.insecure)
    for warning in connection_warnings(connection):
        info(f"WARNING: {warning}")
    session = JenkinsSession(connection)
    try:
        user, version = session.identity()
        progress(f"Jenkins {version} at {connection.url}, as {user}")
        if args.action == "doctor":
            return jenkins_doctor.run(ctx, jenkins, session, version)
        return ACTIONS[args.action](args, jenkins, session)
    except JenkinsFailure as failure:
        raise error_for_failure(failure, connection, jenkins) from None


def sync_job(args, jenkins: JenkinsConfig, session: JenkinsSession) -> Outcome:
    project = project_job(jenkins)
    plan = sync_plan(session.job_config(project), job_config_xml(jenkins), jenkins.job_name)
    for line in plan.diff:
        info(line)
    if args.dry_run:
        if plan.action == "create":
            info(plan.config_xml)
        return Outcome.ok(f"dry run: job {jenkins.job_name} would be {_past(plan.action)}")
    if plan.action == "create":
        session.create_job(project, plan.config_xml)
    elif plan.action == "update":
        session.update_job(project, plan.config_xml)
    info(webhook_line(session.connection.url, jenkins.scm_url))
    return Outcome.ok(f"job {jenkins.job_name} {_past(plan.action)}: Multibranch Pipeline of {jenkins.scm_url} "
                      f"({jenkins.jenkinsfile}; branches, and tags on commits at most {jenkins.tag_max_age_days} "
                      f"days old), "
                      f"scanned every {jenkins.scan_interval} and on each push webhook")


def trigger(args, jenkins: JenkinsConfig, session: JenkinsSession) -> Outcome:
    job = branch_ref(jenkins, args.branch)
    parameters = parse_parameters(args.param)
    info_json = session.job_info(job)
    declared = job_parameter_names(info_json)
    check_parameters(parameters, declared, job.label)
    if not info_json.get("lastBuild") and _is_tag(session, jenkins, args.branch):
        progress(unbuilt_tag_note(args.branch, jenkins.tag_max_age_days))
    deadline = time.monotonic() + args.timeout
    queue_id = session.queue_build(job, parameters, parameterized=declared is not None)
    shown = ", ".join(f"{name}={value}" for name, value in parameters.items())
    progress(f"queued {job.label} as queue item {queue_id}" + (f" with {shown}" if shown else ""))
    started = _wait_until_started(session, job, queue_id, args, deadline)
    if started.cancelled:
        raise CannotRun(f"queue item {queue_id} of {job.label} was cancelled before it started a build")
    number, url = started.build_number, started.build_url
    progress(f"build #{number} started: {url}")
    if not args.wait:
        return Outcome.ok(f"build #{number} of {job.label} started: {url}")
    try:
        followed = session.follow_console(job, number, _write_console, args.poll, deadline)
        build = _wait_until_finished(session, job, number, args.poll, deadline) if followed else None
    except KeyboardInterrupt:
        info(f"stopped following build #{number}; it goes on in Jenkins: {url}")
        raise
    if build is None:
        raise CannotRun(f"build #{number} of {job.label} was still running after {args.timeout:.0f}s; it goes on in "
                        f"Jenkins: {url}")
    status = build_status(build, time.time())
    return Outcome(exit_code_for_result(status.result), f"{job.label} {describe_build(status)}")


def status(args, jenkins: JenkinsConfig, session: JenkinsSession) -> Outcome:
    job = branch_ref(jenkins, args.branch)
    number = args.build if args.build is not None else _last_build_number(session, job)
    if number is None:
        if _is_tag(session, jenkins, args.branch):
            return Outcome.ok(f"job {job.label} has no builds yet: "
                              f"{unbuilt_tag_note(args.branch, jenkins.tag_max_age_days)}")
        return Outcome.ok(f"job {job.label} has no builds yet")
    build = build_status(session.build_info(job, number), time.time())
    info(f"build     #{build.number} of {job.label}")
    info(f"result    {'building' if build.building else build.result}")
    info(f"duration  {format_duration(build.duration_seconds)}")
    info(f"url       {build.url}")
    return Outcome.ok(f"{job.label} {describe_build(build)}")


def logs(args, jenkins: JenkinsConfig, session: JenkinsSession) -> Outcome:
    job = branch_ref(jenkins, args.branch)
    number = args.build if args.build is not None else _last_build_number(session, job)
    if number is None:
        raise UserError(f"job {job.label} has no builds yet: start one with `python -m ci jenkins trigger`")
    if not args.follow:
        text = session.console_text(job, number)
        _write_console(text)
        return Outcome.ok(f"console of build #{number} of {job.label} ({len(text.encode())} bytes)")
    try:
        followed = session.follow_console(job, number, _write_console, args.poll, time.monotonic() + args.timeout)
    except KeyboardInterrupt:
        info(f"stopped following build #{number} of {job.label}")
        raise
    if not followed:
        raise CannotRun(f"build #{number} of {job.label} was still writing its console after {args.timeout:.0f}s")
    return Outcome.ok(f"followed the console of build #{number} of {job.label} to its end")


ACTIONS = {"sync-job": sync_job, "trigger": trigger, "status": status, "logs": logs,
           "pending": jenkins_inputs.pending, "approve": jenkins_inputs.approve, "reject": jenkins_inputs.reject}


def _is_tag(session: JenkinsSession, jenkins: JenkinsConfig, branch: str | None) -> bool:
    if not branch:
        return False
    try:
        view = session.get_json("read", f"the tags of {jenkins.job_name}", tags_view_path(project_job(jenkins)))
    except JenkinsFailure as failure:
        if failure.status == 404:
            return False
        raise
    return branch_item_name(branch) in {job.get("name") for job in view.get("jobs") or []}


def _wait_until_started(session: JenkinsSession, job: JobRef, queue_id: int, args, deadline: float) -> QueueState:
    reason = ""
    while True:
        state = queue_state(session.queue_item(queue_id))
        if state.started or state.cancelled:
            return state
        if state.why and state.why != reason:
            reason = state.why
            progress(f"queue item {queue_id} waits: {reason}")
        if time.monotonic() >= deadline:
            raise CannotRun(f"queue item {queue_id} of {job.label} had not started after {args.timeout:.0f}s: "
                            f"{reason or 'no reason given'}")
        time.sleep(args.poll)


def _wait_until_finished(session: JenkinsSession, job: JobRef, number: int, poll_seconds: float,
                         deadline: float) -> dict | None:
    """The build's record once it has a result; the console can end a moment before Jenkins records it."""
    while True:
        build = session.build_info(job, number)
        if not build.get("building") and build.get("result"):
            return build
        if time.monotonic() >= deadline:
            return None
        time.sleep(poll_seconds)


def _last_build_number(session: JenkinsSession, job: JobRef) -> int | None:
    last = session.job_info(job).get("lastBuild")
    return last["number"] if last else None


def _write_console(text: str) -> None:
    # The build's own output goes to stdout as it arrives (pipeable); everything this command says goes to stderr.
    sys.stdout.write(text)
    sys.stdout.flush()


def _past(action: str) -> str:
    return {"create": "created", "update": "updated", "unchanged": "unchanged"}[action]
