"""Every Jenkins REST path `ci jenkins` uses, relative to JENKINS_URL, and the jobs they belong to."""

import json
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlencode

from ci.config import JenkinsConfig

# Only the fields we read, so that a build with thousands of actions or artifacts stays a small answer.
# The input step's own REST data: InputAction exports `executions`, each InputStepExecution its id, `settled` and
# the InputStep (id, message, ok, submitter) - jenkinsci/pipeline-input-step-plugin:
# src/main/java/org/jenkinsci/plugins/workflow/support/steps/input/InputAction.java (@ExportedBean, getExecutions),
# InputStepExecution.java (@ExportedBean, getId, isSettled, getInput) and InputStep.java (@Exported getters), exported
# since 466.v6d0a_5df34f81 (commit 987738a "Export some data from InputAction to the http API").
BUILD_TREE = ("number,url,building,result,duration,timestamp,artifacts[relativePath],"
              "actions[_class,waitingForInput,executions[id,settled,input[id,message,ok,submitter]]]")
# A branch job's builds and its parameter definitions: Job.getAllProperties is exported as `property`, and
# ParametersDefinitionProperty.getParameterDefinitions as `parameterDefinitions` (jenkinsci/jenkins:
# core/src/main/java/hudson/model/Job.java, hudson/model/ParametersDefinitionProperty.java).
JOB_TREE = ("_class,name,url,builds[number,url],lastBuild[number,url],"
            "property[_class,parameterDefinitions[name,type]]")
PROJECT_TREE = "_class,name,url,jobs[_class,name,url]"
# The project's tag jobs: a multibranch project with items has one view per SCMHeadCategory of its sources, named
# as it, and scm-api's TagSCMHeadCategory is "tags" (jenkinsci/branch-api-plugin: src/main/java/jenkins/branch/
# MultiBranchProjectViewHolder.java getViews, ensureViews; jenkinsci/scm-api-plugin: jenkins/scm/impl/
# TagSCMHeadCategory.java). The git source has that category only with TagDiscoveryTrait (git-plugin
# AbstractGitSCMSource.isCategoryEnabled). So: 200 with the tag jobs (an empty list before the first tag) once the
# project has jobs and discovers tags; 404 while it has no jobs (only the welcome view) or discovers no tags.
TAGS_VIEW = "view/tags/api/json?tree=jobs[name]"
# The form the input step's `proceed` reads with Stapler's getSubmittedForm(), which wants a `json` field
# (jenkinsci/stapler: core/src/main/java/org/kohsuke/stapler/RequestImpl.java, getSubmittedForm: 400
# "Nothing is submitted" without one). No parameters: the
# input step still adds its submitterParameter to the value it returns (InputStepExecution.parseValue), on every
# version - unlike proceedEmpty before 532.v9e7466cb_4406, which returned null (JENKINS-40594).
PROCEED_FORM = {"json": json.dumps({"parameter": []})}


@dataclass(frozen=True)
class JobRef:
    """A job by its item names from the root: ("ml-model-service", "main") is branch main's job in the multibranch
    project ml-model-service; `label` is how messages name it."""

    names: tuple[str, ...]
    label: str


def project_job(jenkins: JenkinsConfig) -> JobRef:
    """The multibranch project `sync-job` keeps; `a/b` is project b in folder a."""
    return JobRef(tuple(jenkins.job_name.split("/")), jenkins.job_name)


def branch_job(jenkins: JenkinsConfig, branch: str) -> JobRef:
    """The job branch-api makes for a branch or tag of the project, named NameEncoder.encode(<branch>)."""
    project = project_job(jenkins)
    return JobRef(project.names + (branch_item_name(branch),), f"{jenkins.job_name}/{branch}")


def child_job(project: JobRef, item_name: str) -> JobRef:
    """A job listed in the project's `jobs`: Jenkins gives its item name, already encoded."""
    return JobRef(project.names + (item_name,), f"{project.label}/{unquote(item_name)}")


def branch_item_name(branch: str) -> str:
    """As jenkinsci/branch-api-plugin: src/main/java/jenkins/branch/NameEncoder.java (encode): the few characters
    that would end a URL segment are %-escaped, everything else is kept (`feature/x` is item `feature%2Fx`)."""
    if branch in ("", ".", ".."):
        return {"": "%00", ".": "%2E", "..": "%2E."}[branch]
    escapes = {"#": "%23", "%": "%25", "/": "%2F", "?": "%3F", "[": "%5B", "]": "%5D", "\\": "%5C"}
    return "".join(escapes.get(character, character) for character in branch)


def job_path(job: JobRef) -> str:
    """job/a/job/b/: each item name URL-encoded once more, as Jenkins's own links do (`%` becomes `%25`)."""
    return "".join(f"job/{quote(name, safe='')}/" for name in job.names)


def tags_view_path(project: JobRef) -> str:
    return f"{job_path(project)}{TAGS_VIEW}"


def api_path(job: JobRef, tree: str) -> str:
    return f"{job_path(job)}api/json?{urlencode({'tree': tree})}"


def config_path(job: JobRef) -> str:
    return f"{job_path(job)}config.xml"


def create_item_path(job: JobRef) -> str:
    """createItem in the job's folder (the root for a top-level job)."""
    parent = JobRef(job.names[:-1], "")
    return f"{job_path(parent)}createItem?{urlencode({'name': job.names[-1]})}"


def build_trigger_path(job: JobRef, parameterized: bool) -> str:
    # jenkinsci/jenkins: core/src/main/java/jenkins/model/ParameterizedJobMixIn.java: doBuildWithParameters refuses a
    # job without parameters (500 IllegalStateException before 2.524, 400 "<job> is not parameterized" since).
    return f"{job_path(job)}{'buildWithParameters' if parameterized else 'build'}"


def build_path(job: JobRef, number: int) -> str:
    return f"{job_path(job)}{number}/"


def build_api_path(job: JobRef, number: int, tree: str = BUILD_TREE) -> str:
    return f"{build_path(job, number)}api/json?{urlencode({'tree': tree})}"


def console_text_path(job: JobRef, number: int) -> str:
    return f"{build_path(job, number)}consoleText"


def progressive_text_path(job: JobRef, number: int, start: int) -> str:
    return f"{build_path(job, number)}logText/progressiveText?start={start}"


def input_submit_path(job: JobRef, number: int, input_id: str, approve: bool) -> str:
    """proceed (with PROCEED_FORM) or abort: InputAction.getDynamic(<id>) is the InputStepExecution, whose doProceed
    and doAbort are the REST endpoints (jenkinsci/pipeline-input-step-plugin: InputStepExecution.java)."""
    return f"{build_path(job, number)}input/{quote(input_id, safe='')}/{'proceed' if approve else 'abort'}"


def queue_item_path(queue_id: int) -> str:
    return f"queue/item/{queue_id}/api/json"


# What doctor reads. PluginManager.getApi needs Overall/SystemRead; ComputerSet exports `computer`, each Computer
# `offline`, `numExecutors` and `assignedLabels` (jenkinsci/jenkins: core/src/main/java/hudson/PluginManager.java,
# hudson/PluginWrapper.java, hudson/model/ComputerSet.java, hudson/model/Computer.java).
PLUGINS_PATH = "pluginManager/api/json?tree=plugins[shortName,version,active]"
COMPUTERS_PATH = "computer/api/json?tree=computer[displayName,offline,numExecutors,assignedLabels[name]]"


def label_path(label: str) -> str:
    """A label's page (Jenkins.getLabel): Label exports `nodes` and `clouds`, the clouds whose canProvision(label)
    is true, so an agent a cloud starts on demand counts (jenkinsci/jenkins: core/src/main/java/hudson/model/
    Label.java getNodes, getClouds). A Cloud exports only its class and actions (Actionable)."""
    return f"label/{quote(label, safe='')}/api/json?{urlencode({'tree': 'nodes[nodeName],clouds[_class]'})}"


def credentials_path(owner: JobRef) -> str:
    """The credentials plugin's page of an item (the root for no names): ViewCredentialsAction exports its own
    stores as `stores`, each store its `domains`, each domain its `credentials` with their ids and typeName (jenkinsci/
    credentials-plugin: src/main/java/com/cloudbees/plugins/credentials/ViewCredentialsAction.java,
    CredentialsStoreAction.java)."""
    return f"{job_path(owner)}credentials/api/json?{urlencode({'tree': 'stores[domains[credentials[id,typeName]]]'})}"


def jenkins_input_id(input_id: str) -> str:
    """The id Jenkins gives an input step: the pipeline's `id:` with a first letter a-z capitalized (InputStep.setId
    calls capitalize)."""
    return input_id[:1].upper() + input_id[1:] if "a" <= input_id[:1] <= "z" else input_id
