"""`ci jenkins pending|approve|reject` (actions of ci/commands/jenkins.py): find the builds waiting at an input and
answer one, as JENKINS_USER."""

from ci.commands.outcome import Outcome
from ci.config import JenkinsConfig
from ci.console import info
from ci.errors import CannotRun
from ci.executor.jenkins import JenkinsSession
from ci.jenkins.answers import (INPUTS_MAYBE_UNSEEN, INPUTS_UNSEEN, PendingInput, choose_input, evidence_links,
                                input_step_shows_inputs, inputs_unseen, pending_inputs)
from ci.jenkins.failures import JenkinsFailure
from ci.jenkins.paths import PLUGINS_PATH, PROJECT_TREE, JobRef, branch_job, child_job, jenkins_input_id, project_job


def branch_ref(jenkins: JenkinsConfig, branch: str | None) -> JobRef:
    return branch_job(jenkins, branch or jenkins.branch)


def pending(args, jenkins: JenkinsConfig, session: JenkinsSession) -> Outcome:
    jobs = [branch_ref(jenkins, args.branch)] if args.branch else project_jobs(session, jenkins)
    waiting = [entry for job in jobs for entry in _waiting_builds(session, job, None, args.recent)]
    doubt = _refuse_unseen(session, waiting)
    waiting = [entry for entry in waiting if entry[2]]
    for job, build, inputs in waiting:
        info(f"build #{build['number']} of {job.label}: {build.get('url', '')}")
        branch = job.label.split("/")[-1]
        for item in inputs:
            info(f"  input {item.input_id}: {item.message} [{item.proceed_text or 'Proceed'}]"
                 + (f" (submitters: {item.submitter})" if item.submitter else ""))
            named = f"--branch {branch} --build {item.build_number} --input {item.input_id}"
            info(f"    approve: python -m ci jenkins approve {named}")
            info(f"    reject:  python -m ci jenkins reject {named}")
        links = evidence_links(build)
        info("  evidence:" if links else "  evidence: nothing archived under reports/ yet")
        for link in links:
            info(f"    {link}")
    count = sum(len(inputs) for _, _, inputs in waiting)
    where = jobs[0].label if args.branch else jenkins.job_name
    if not count:
        return Outcome.ok(f"nothing in {where} is waiting for input (the {args.recent} newest builds of each job "
                          f"looked at)" + (f" {INPUTS_MAYBE_UNSEEN}" if doubt else ""))
    return Outcome.ok(f"{count} input(s) waiting in {len(waiting)} build(s) of {where}; approvers: "
                      f"{jenkins.release_managers}")


def approve(args, jenkins: JenkinsConfig, session: JenkinsSession) -> Outcome:
    return _settle(args, jenkins, session, approve=True)


def reject(args, jenkins: JenkinsConfig, session: JenkinsSession) -> Outcome:
    return _settle(args, jenkins, session, approve=False)


def _settle(args, jenkins: JenkinsConfig, session: JenkinsSession, approve: bool) -> Outcome:
    if args.build is not None:
        jobs = [branch_ref(jenkins, args.branch)]
    else:
        jobs = [branch_ref(jenkins, args.branch)] if args.branch else project_jobs(session, jenkins)
    if args.build is not None and args.input_id:
        # Fully named: no look-up, so this works even where Jenkins cannot list the pending inputs.
        chosen = PendingInput(jobs[0].label, args.build, jenkins_input_id(args.input_id), "", "", None)
    else:
        waiting = [entry for job in jobs for entry in _waiting_builds(session, job, args.build, args.recent)]
        doubt = _refuse_unseen(session, waiting)
        if doubt:
            info(INPUTS_MAYBE_UNSEEN)
        where = jobs[0].label if args.branch or args.build is not None else jenkins.job_name
        chosen = choose_input([item for _, _, inputs in waiting for item in inputs], where, args.build,
                              args.input_id)
    job = next(job for job in jobs if job.label == chosen.job_label)
    session.submit_input(job, chosen.build_number, chosen.input_id, approve)
    verb = "approved" if approve else "rejected"
    return Outcome.ok(f"{verb} input {chosen.input_id} of build #{chosen.build_number} of {job.label} as "
                      f"{session.connection.user}")


def project_jobs(session: JenkinsSession, jenkins: JenkinsConfig) -> list[JobRef]:
    """Every branch and tag job of the multibranch project."""
    project = project_job(jenkins)
    children = session.job_info(project, PROJECT_TREE).get("jobs") or []
    return [child_job(project, child["name"]) for child in children if child.get("name")]


def _waiting_builds(session: JenkinsSession, job: JobRef, build_number: int | None,
                    recent: int) -> list[tuple[JobRef, dict, list[PendingInput]]]:
    """Running builds with inputs waiting: only a running build can wait at an input."""
    if build_number is not None:
        numbers = [build_number]
    else:
        numbers = [build["number"] for build in session.job_info(job).get("builds", [])[:recent]]
    waiting = []
    for number in numbers:
        build = session.build_info(job, number)
        if not build.get("building"):
            continue
        inputs = pending_inputs(job.label, build)
        if inputs or inputs_unseen(build):
            waiting.append((job, build, inputs))
    return waiting


def _refuse_unseen(session: JenkinsSession, waiting: list[tuple[JobRef, dict, list[PendingInput]]]) -> bool:
    """Whether "nothing is waiting" may be doubted: a running build with unexported actions and no InputAction may
    wait at an input step too old to show one. Every build has unexported actions, so the plugin's version settles
    it: too old is a refusal; unreadable (no Overall/SystemRead) leaves a doubt, True, that the caller mentions."""
    if not waiting or any(inputs for _, _, inputs in waiting):
        return False
    try:
        plugins = session.get_json("read", "the plugins", PLUGINS_PATH).get("plugins", [])
    except JenkinsFailure:
        return True
    version = next((plugin.get("version", "") for plugin in plugins
                    if plugin.get("shortName") == "pipeline-input-step"), "")
    if version and not input_step_shows_inputs(version):
        unseen = ", ".join(f"build #{build['number']} of {job.label}" for job, build, _ in waiting)
        raise CannotRun(f"{unseen}: {INPUTS_UNSEEN} (this Jenkins has {version})")
    return False
