"""`ci new-run`: begin a run of the pipeline: an empty reports/ and reports/run.json naming the run.

The Jenkinsfile runs it right after each `checkout scm`, before anything writes a report (and before the Deploy
stage's `unstash` brings this build's reports back); the local `ci pipeline` does the same at its start.
"""

from ci import reports
from ci.commands.outcome import Outcome
from ci.errors import ConfigError

NAME = "new-run"
HELP = "begin a pipeline run: empty reports/ and record the run in reports/run.json (refuses a plain Pipeline job)"
PLAIN_JOB_REFUSAL = ("this Jenkinsfile needs a Multibranch Pipeline job (`python3 -m ci jenkins sync-job` creates "
                     "one): in a plain Pipeline job BRANCH_NAME/TAG_NAME are unset and the release stages would be "
                     "skipped")


def add_arguments(parser) -> None:
    """No options: the run is named by the environment (BUILD_TAG under Jenkins, else a new local id)."""


def job_type_problem(environ: dict[str, str]) -> str:
    """'' unless this is a Jenkins build (BUILD_NUMBER) of a job that is not a branch of a multibranch project.

    Only branch-api sets BRANCH_NAME (jenkinsci/branch-api-plugin: src/main/java/jenkins/branch/
    BranchNameContributor.java, for jobs whose parent is a MultiBranchProject); `when { branch }` and
    `when { tag }` read it and TAG_NAME, so in any other job type every release stage is skipped, green."""
    if environ.get("BUILD_NUMBER") and not environ.get("BRANCH_NAME"):
        return PLAIN_JOB_REFUSAL
    return ""


def start(ctx) -> str:
    """Check the job type, empty reports/ and record a new run; returns its id."""
    problem = job_type_problem(ctx.environ)
    if problem:
        raise ConfigError(problem)
    run = reports.new_run_id(ctx.environ)
    identity = ctx.identity
    reports.start_run(ctx.root, run, {
        "commit": identity.commit, "branch": identity.branch, "tag": identity.git_tag,
        "job": ctx.environ.get("JOB_NAME", ""), "build": identity.build_number,
    })
    # This process's later reports (if any) belong to the run just begun.
    ctx.__dict__["report_run"] = run
    return run


def run(args, ctx) -> Outcome:
    started = start(ctx)
    return Outcome.ok(f"run {started} begun: reports/ emptied, reports/{reports.RUN_FILE} records it")
