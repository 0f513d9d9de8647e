"""The environment variables real Jenkins gives a Pipeline build, per job type, as read in the Jenkins sources.

Jenkins cannot run here, so the Jenkinsfile's conditions and the toolkit's view of a Jenkins build are checked
against this model. Every variable below names the source that sets it. What a step's `env` holds is what
matters to a declarative `when`: the `checkout` step's own GIT_* variables are NOT in it.
"""

from dataclasses import dataclass

JENKINS_URL = "https://jenkins.example.com/"
JENKINS_HOME = "/var/jenkins_home"
PROJECT = "ml-model-service"
COMMIT = "3f2c9a1e5b7d4c6a8e0f1b2d3c4e5f6a7b8c9d0e"
REMOTE = "https://git.example.com/ml/ml-model-service.git"

# The job types a build can come from. A plain Pipeline job runs a "Pipeline script from SCM".
MULTIBRANCH_BRANCH = "multibranch-branch"
MULTIBRANCH_TAG = "multibranch-tag"
MULTIBRANCH_CHANGE_REQUEST = "multibranch-change-request"
PIPELINE = "pipeline"
JOB_TYPES = (MULTIBRANCH_BRANCH, MULTIBRANCH_TAG, MULTIBRANCH_CHANGE_REQUEST, PIPELINE)


@dataclass(frozen=True)
class ChangeRequest:
    """A pull/merge request as a GitHub- or GitLab-style branch source presents it (plain git has none)."""

    number: str = "12"
    source_branch: str = "feature/login"
    target: str = "main"
    fork: str = ""


def encoded_name(name: str) -> str:
    # jenkinsci/branch-api-plugin: src/main/java/jenkins/branch/NameEncoder.java (encode): a branch job's
    # name is its head name with '/', '?', '#', '[', ']', '\' and '%' escaped (Branch.getEncodedName).
    escapes = {"#": "%23", "%": "%25", "/": "%2F", "?": "%3F", "[": "%5B", "]": "%5D", "\\": "%5C"}
    return "".join(escapes.get(character, character) for character in name)


def build_environment(job_type: str, head: str = "main", build_number: int = 7, on_agent: bool = True,
                      primary_branch: str = "main", change: ChangeRequest | None = None) -> dict[str, str]:
    """The `env` a step sees in a build of `head` (a branch, tag or change-request name) from a job of this type.

    `on_agent` is inside `node`/a declarative `agent` (NODE_NAME, WORKSPACE, JENKINS_NODE_COOKIE); outside one
    (our Approve stage) those are absent.
    """
    if job_type not in JOB_TYPES:
        raise ValueError(f"unknown job type {job_type!r} (one of {', '.join(JOB_TYPES)})")
    multibranch = job_type != PIPELINE
    job_base_name = encoded_name(head) if multibranch else PROJECT
    job_name = f"{PROJECT}/{job_base_name}" if multibranch else PROJECT
    job_url = JENKINS_URL + "job/" + "/job/".join(job_name.split("/")) + "/"
    env = {
        # jenkinsci/jenkins: core/src/main/java/hudson/model/Job.java (getCharacteristicEnvVars)
        "JENKINS_SERVER_COOKIE": "5e3c0b1d2a4f6e8c", "HUDSON_SERVER_COOKIE": "5e3c0b1d2a4f6e8c",
        "JOB_NAME": job_name, "JOB_BASE_NAME": job_base_name,
        # jenkinsci/jenkins: core/src/main/java/hudson/model/Run.java (getCharacteristicEnvVars): the full
        # name with '/' replaced by '-'.
        "BUILD_NUMBER": str(build_number), "BUILD_ID": str(build_number),
        "BUILD_TAG": f"jenkins-{job_name.replace('/', '-')}-{build_number}",
        # jenkinsci/jenkins: core/src/main/java/jenkins/model/CoreEnvironmentContributor.java (both
        # buildEnvironmentFor methods); the URLs only when Jenkins's root URL is configured.
        "CI": "true", "JENKINS_URL": JENKINS_URL, "HUDSON_URL": JENKINS_URL, "JOB_URL": job_url,
        "BUILD_URL": f"{job_url}{build_number}/", "BUILD_DISPLAY_NAME": f"#{build_number}",
        "JENKINS_HOME": JENKINS_HOME, "HUDSON_HOME": JENKINS_HOME,
    }
    if on_agent:
        # jenkinsci/workflow-durable-task-step-plugin: .../support/steps/ExecutorStepExecution.java
        # (PlaceholderTask.PlaceholderExecutable.run): every process started in the node block carries the
        # cookie, and an abort kills every process with it.
        workspace = f"/home/jenkins/workspace/{job_base_name}"
        env.update({"JENKINS_NODE_COOKIE": "0b6f5c2e-8d41-4a7e-9c3b-2f1e0d9a8b7c", "NODE_NAME": "docker-agent-1",
                    "NODE_LABELS": "docker docker-agent-1", "EXECUTOR_NUMBER": "0", "WORKSPACE": workspace,
                    "WORKSPACE_TMP": workspace + "@tmp"})
    if multibranch:
        env.update(_branch_variables(job_type, head, primary_branch, change or ChangeRequest()))
    # No GIT_* at all: the Jenkinsfile sets skipDefaultCheckout(true) and runs `checkout scm` itself, and the
    # checkout step returns GitSCM.buildEnvironment's map (GIT_COMMIT, GIT_BRANCH, GIT_URL...) instead of adding
    # it to env: jenkinsci/workflow-scm-step-plugin: src/main/java/org/jenkinsci/plugins/workflow/steps/scm/
    # SCMStep.java (StepExecutionImpl.run); jenkinsci/git-plugin: hudson/plugins/git/GitSCM.java. Only
    # declarative's own default checkout wraps the rest of the build in withEnv(those variables):
    # jenkinsci/pipeline-model-definition-plugin: pipeline-model-extensions/src/main/resources/org/jenkinsci/
    # plugins/pipeline/modeldefinition/agent/CheckoutScript.groovy (checkoutAndRun). WorkflowRun adds no SCM
    # variables either: jenkinsci/workflow-job-plugin: .../workflow/job/WorkflowRun.java (getEnvironment).
    return env


def _branch_variables(job_type: str, head: str, primary_branch: str, change: ChangeRequest) -> dict[str, str]:
    # jenkinsci/branch-api-plugin: src/main/java/jenkins/branch/BranchNameContributor.java (buildEnvironmentFor):
    # only for a job whose parent is a MultiBranchProject. BRANCH_NAME is the head's name for every head,
    # the tag's name for a tag build.
    env = {"BRANCH_NAME": head}
    # BRANCH_IS_PRIMARY comes from PrimaryInstanceMetadataAction, which a git source gives the remote's HEAD
    # branch: jenkinsci/git-plugin: src/main/java/jenkins/plugins/git/AbstractGitSCMSource.java (retrieveActions).
    if job_type == MULTIBRANCH_BRANCH and head == primary_branch:
        env["BRANCH_IS_PRIMARY"] = "true"
    if job_type == MULTIBRANCH_TAG:
        # TAG_TIMESTAMP is milliseconds, TAG_UNIXTIME seconds, TAG_DATE Date.toString().
        env.update({"TAG_NAME": head, "TAG_TIMESTAMP": "1767225600000", "TAG_UNIXTIME": "1767225600",
                    "TAG_DATE": "Thu Jan 01 00:00:00 UTC 2026"})
    if job_type == MULTIBRANCH_CHANGE_REQUEST:
        # The head is named by the branch source (GitHub's is "PR-<number>": jenkinsci/github-branch-source-plugin
        # PullRequestSCMHead takes the name from GitHubSCMSource; the naming itself was not read here).
        env.update({"CHANGE_ID": change.number, "CHANGE_TARGET": change.target,
                    "CHANGE_BRANCH": change.source_branch})
        if change.fork:
            env["CHANGE_FORK"] = change.fork
    return env


def checks_out_the_built_revision(job_type: str) -> bool:
    """Whether every `checkout scm` of one build (Checkout, and Deploy days later) gets the same commit.

    jenkinsci/workflow-multibranch-plugin: src/main/java/org/jenkinsci/plugins/workflow/multibranch/SCMBinder.java
    (create) records the head's tip as an SCMRevisionAction when the build starts, and SCMVar.java (getValue)
    builds `scm` from that revision; for a standalone job SCMVar returns the job's SCM "minus the exact
    revision support" (JENKINS-31386), so a later checkout fetches the branch's newest commit.
    """
    return job_type != PIPELINE
