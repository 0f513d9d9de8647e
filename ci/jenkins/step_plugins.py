"""Which Jenkins plugin gives each step, option and directive name a Jenkinsfile may use, and which ones it uses.

Read in each plugin's source (the class whose @Symbol or StepDescriptor.getFunctionName is the name):
- pipeline-model-definition: the declarative directives, `script` (modeldefinition/steps/ScriptStep.java),
  `skipDefaultCheckout` (options/impl/SkipDefaultCheckout.java), `disableRestartFromStage`
  (options/impl/DisableRestartFromStage.java), `agent { label }` (agent/impl/Label.java);
- workflow-durable-task-step: `sh` (steps/durable_task/ShellStep.java), the `node` an agent runs in
  (support/steps/ExecutorStep.java);
- workflow-basic-steps: `timeout` (steps/TimeoutStep.java), `error` (steps/ErrorStep.java), `stash` and `unstash`
  (support/steps/stash/StashStep.java, UnstashStep.java), and steps/CoreStep.java, through which a core build step
  such as `archiveArtifacts` runs in a Pipeline;
- workflow-scm-step: `checkout` (steps/scm/GenericSCMStep.java); timestamper: `timestamps`
  (pipeline/TimestamperStep.java); pipeline-input-step: `input` (InputStep.java); pipeline-milestone-step:
  `milestone` (MilestoneStep.java); lockable-resources: `lock` (LockStep.java); junit: `junit`
  (tasks/junit/pipeline/JUnitResultsStep.java);
- credentials-binding: `withCredentials` (BindingStep.java), `usernamePassword`, `sshUserPrivateKey` and `file`
  (impl/UsernamePasswordMultiBinding.java, SSHUserPrivateKeyBinding.java, FileBinding.java); the credential kinds
  they bind come from credentials (UsernamePasswordCredentials), ssh-credentials (SSHUserPrivateKey) and
  plain-credentials (FileCredentials);
- coverage: `recordCoverage` (metrics/steps/CoverageRecorder.java); warnings-ng: `recordIssues`
  (core/steps/IssuesRecorder.java) and `flake8` (warnings/Flake8.java).
Jenkins core itself: `archiveArtifacts` (hudson/tasks/ArtifactArchiver.java), `buildDiscarder`
(jenkins/model/BuildDiscarderProperty.java), `logRotator` (hudson/tasks/LogRotator.java) and `pollSCM`
(hudson/triggers/SCMTrigger.java).
"""

import re

DECLARATIVE = ("pipeline-model-definition",)
STEP_PLUGINS: dict[str, tuple[str, ...]] = {
    **{name: DECLARATIVE for name in ("pipeline", "agent", "stages", "stage", "steps", "post", "when", "options",
                                      "environment", "triggers", "script", "skipDefaultCheckout",
                                      "disableRestartFromStage")},
    "label": ("pipeline-model-definition", "workflow-durable-task-step"),
    "sh": ("workflow-durable-task-step",),
    "timeout": ("workflow-basic-steps",),
    "error": ("workflow-basic-steps",),
    "stash": ("workflow-basic-steps",),
    "unstash": ("workflow-basic-steps",),
    "archiveArtifacts": ("workflow-basic-steps",),
    "checkout": ("workflow-scm-step",),
    "timestamps": ("timestamper",),
    "input": ("pipeline-input-step",),
    "milestone": ("pipeline-milestone-step",),
    "lock": ("lockable-resources",),
    "junit": ("junit",),
    "withCredentials": ("credentials-binding",),
    "usernamePassword": ("credentials-binding", "credentials"),
    "sshUserPrivateKey": ("credentials-binding", "ssh-credentials"),
    "file": ("credentials-binding", "plain-credentials"),
    "recordCoverage": ("coverage",),
    "recordIssues": ("warnings-ng",),
    "flake8": ("warnings-ng",),
}
# Names Jenkins core provides: no plugin to install for them (archiveArtifacts also needs CoreStep, above).
CORE_STEPS = frozenset({"archiveArtifacts", "buildDiscarder", "logRotator", "pollSCM"})
# What every job of this toolkit needs whatever its Jenkinsfile says: the Pipeline job and its Groovy engine
# (workflow-job WorkflowJob, workflow-cps CpsFlowDefinition), and the multibranch project with its git source and
# build strategies.
JOB_PLUGINS = ("workflow-job", "workflow-cps", "workflow-multibranch", "branch-api", "cloudbees-folder", "git",
               "basic-branch-build-strategies", "credentials")


def used_names(jenkinsfile: str) -> list[str]:
    """The known names the Jenkinsfile calls: a name followed by `(`, `{`, a quote or a word (`checkout scm`),
    outside `//` comments."""
    code = re.sub(r"(^|\s)//[^\n]*", r"\1", jenkinsfile)
    known = sorted(set(STEP_PLUGINS) | CORE_STEPS)
    return [name for name in known if re.search(rf"(?<![\w.]){name}(?=\s*[({{'\"]|\s+\w)", code)]


def required_plugins(jenkinsfile: str) -> list[str]:
    needed = [plugin for name in used_names(jenkinsfile) for plugin in STEP_PLUGINS.get(name, ())]
    return list(dict.fromkeys(needed + list(JOB_PLUGINS)))
