"""What the Jenkins stand-in holds: its items (multibranch projects, branch jobs, plain jobs), builds and inputs, and
how Jenkins re-saves a posted config.xml. Each behaviour names the real source it mirrors."""

import re
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

# Two Jenkins cores: before and since 2.524, where doBuildWithParameters on a job without parameters stopped
# throwing IllegalStateException (HTTP 500) and answers 400 "<job> is not parameterized" (jenkinsci/jenkins:
# core/src/main/java/jenkins/model/ParameterizedJobMixIn.java, commit 521ecfdbfc, tag jenkins-2.524).
JENKINS_BEFORE_2_524 = "2.462.3"
JENKINS_SINCE_2_524 = "2.528.1"
# Three pipeline-input-step releases (jenkinsci/pipeline-input-step-plugin tags):
# - before 466.v6d0a_5df34f81 InputAction exported nothing (commit 987738a added @ExportedBean);
# - before 532.v9e7466cb_4406 doProceedEmpty called proceed(null): `input` returned null even with a
#   submitterParameter (JENKINS-40594, fixed by commit e75b711 handleSubmitterParameter);
# - since 532 proceedEmpty returns the submitterParameter too.
INPUT_STEP_NO_EXPORT = "456.vd8a_957db_5b_e9"
INPUT_STEP_BEFORE_FIX = "527.vd61b_1d3c5078"
INPUT_STEP_FIXED = "532.v9e7466cb_4406"
MULTIBRANCH_CLASS = "org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject"
PIPELINE_JOB_CLASS = "org.jenkinsci.plugins.workflow.job.WorkflowJob"
INPUT_ACTION_CLASS = "org.jenkinsci.plugins.workflow.support.steps.input.InputAction"
# plugin="name@version" as XStream2 writes it for classes that come from plugins.
PLUGIN_OF = {
    MULTIBRANCH_CLASS: "workflow-multibranch@821.vc3b_4ea_780798",
    "flow-definition": "workflow-job@1400.v7fd111b_ec82f",
    "jenkins.plugins.git.GitSCMSource": "git@5.10.1",
    "hudson.plugins.git.GitSCM": "git@5.10.1",
    "com.cloudbees.hudson.plugins.folder.computed.DefaultOrphanedItemStrategy": "cloudbees-folder@6.1100.ve9eed61d16c4",
    "com.cloudbees.hudson.plugins.folder.computed.PeriodicFolderTrigger": "cloudbees-folder@6.1100.ve9eed61d16c4",
    "jenkins.branch.buildstrategies.basic.BranchBuildStrategyImpl": "basic-branch-build-strategies@317.v85b_331d6cc42",
    "jenkins.branch.buildstrategies.basic.TagBuildStrategyImpl": "basic-branch-build-strategies@317.v85b_331d6cc42",
}


def plugin_release(version: str) -> int:
    return int(version.split(".", 1)[0])


def core_at_least(version: str, wanted: str) -> bool:
    return [int(part) for part in version.split(".")] >= [int(part) for part in wanted.split(".")]


@dataclass(frozen=True)
class Input:
    id: str
    message: str
    ok: str = "Proceed"
    # Users or groups, comma-separated, as the input step's `submitter`; None lets anyone with Job/Build answer.
    submitter: str | None = "release-managers"
    # As the Jenkinsfile's `submitterParameter: 'APPROVER'`: the input returns the approver's id.
    submitter_parameter: str | None = "APPROVER"


@dataclass
class BuildScript:
    steps: list = field(default_factory=lambda: ["Started by user\n", "[Pipeline] stage (Lint)\n",
                                                 "[Pipeline] stage (Unit)\n"])
    result: str = "SUCCESS"
    artifacts: tuple = ()
    cancelled_in_queue: bool = False


@dataclass
class Build:
    job: tuple
    number: int
    url: str
    script: BuildScript
    parameters: dict
    step_seconds: float
    started: float = field(default_factory=time.time)
    stepped_at: float = field(default_factory=time.monotonic)
    position: int = 0
    text: str = ""
    waiting: Input | None = None
    # Whether an input step ever ran (InputStepExecution.getPauseAction adds the InputAction to the run for good).
    had_input: bool = False
    # What each answered input step returned to the pipeline (`def approver = input(...)`).
    input_values: list = field(default_factory=list)
    result: str | None = None
    duration_ms: int = 0

    @property
    def building(self) -> bool:
        return self.result is None

    def advance(self, console_request: bool) -> None:
        now = time.monotonic()
        if console_request:
            self._step(now)
        while self.building and self.waiting is None and now - self.stepped_at >= self.step_seconds:
            self._step(self.stepped_at + self.step_seconds)

    def settle(self, user: str | None, approve: bool, value=None) -> None:
        self.waiting = None
        self.stepped_at = time.monotonic()
        if approve:
            # InputStepExecution.proceed: "Approved by <user>", then the pipeline goes on with `value`.
            self.input_values.append(value)
            self.text += f"Approved by {user}\n"
            if self.position == len(self.script.steps):
                self._finish(self.script.result)
        else:
            # doAbort: FlowInterruptedException(ABORTED, Rejection(user)).
            self.text += f"Rejected by {user}\n"
            self._finish("ABORTED")

    def _step(self, at: float) -> None:
        if not self.building or self.waiting is not None:
            return
        self.stepped_at = at
        if self.position < len(self.script.steps):
            step = self.script.steps[self.position]
            self.position += 1
            if isinstance(step, Input):
                self.waiting, self.had_input = step, True
                # InputStepExecution.start: the message, then "<ok> or <cancel>" links.
                self.text += f"[Pipeline] input\n{step.message}\n{step.ok} or Abort\n"
                return
            self.text += step
        if self.position == len(self.script.steps):
            self._finish(self.script.result)

    def _finish(self, result: str) -> None:
        self.text += f"Finished: {result}\n"
        self.result = result
        self.duration_ms = int((time.time() - self.started) * 1000)

    def input_action(self, input_step_version: str) -> list[dict]:
        """The run's InputAction as its api/json shows it (InputAction.java, InputStepExecution.java)."""
        if not self.had_input:
            return []
        if plugin_release(input_step_version) < plugin_release("466"):
            # An action that is no @ExportedBean (InputAction before commit 987738a) has no Model, so Stapler writes
            # it as {} with no _class (jenkinsci/stapler: core/src/main/java/org/kohsuke/stapler/export/
            # Property.java, writeBuffered -> writeValue with skipIfFail: startObject(); endObject()).
            return [{}]
        step = self.waiting
        executions = [] if step is None else [{
            "_class": "org.jenkinsci.plugins.workflow.support.steps.input.InputStepExecution", "id": step.id,
            "displayName": step.message[:32], "settled": False,
            "input": {"_class": "org.jenkinsci.plugins.workflow.support.steps.input.InputStep", "id": step.id,
                      "message": step.message, "ok": step.ok, "cancel": "Abort", "submitter": step.submitter,
                      "submitterParameter": step.submitter_parameter, "parameters": []}}]
        return [{"_class": INPUT_ACTION_CLASS, "displayName": "Paused for Input" if executions else None,
                 "waitingForInput": bool(executions), "executions": executions}]

    def as_json(self, input_step_version: str) -> dict:
        return {
            "_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun", "number": self.number, "url": self.url,
            "fullDisplayName": f"{' » '.join(self.job)} #{self.number}", "building": self.building,
            "result": self.result, "duration": self.duration_ms, "timestamp": int(self.started * 1000),
            "artifacts": [{"displayPath": path.rsplit("/", 1)[-1], "fileName": path.rsplit("/", 1)[-1],
                           "relativePath": path} for path in self.script.artifacts],
            "actions": [{"_class": "hudson.model.ParametersAction",
                         "parameters": [{"name": name, "value": value} for name, value in self.parameters.items()]},
                        # Builds also carry actions that are no @ExportedBean, written as {} by the same Stapler
                        # rule as the old InputAction below (Property.java, skipIfFail): a {} proves no input.
                        {},
                        *self.input_action(input_step_version)],
        }


@dataclass
class Item:
    """A top-level job or folder, or a branch job inside a multibranch project."""

    kind: str  # "multibranch", "pipeline" (a plain Pipeline job) or "branch"
    config_xml: str = ""
    builds: list = field(default_factory=list)
    # Declared parameter names (a ParametersDefinitionProperty), or None for a job that declares none.
    parameters: list | None = None
    # A tag's job (a TagSCMHead): listed in the project's "tags" view.
    tag: bool = False


def as_jenkins_stores_it(config_xml: str) -> str:
    """Jenkins reads a posted config with XStream and saves its own serialization (Items.load / XmlFile.write):
    XML 1.1, plugin="name@version" attributes, the defaults its objects fill in when loaded. For a multibranch
    project these are the elements of jenkinsci/branch-api-plugin: src/test/resources/jenkins/branch/
    MultiBranchProjectSourcesTest/oldMBPWithIds/jobs/mbp/config.xml: folderViews, healthMetrics and icon with owner
    references (AbstractFolder.init), the branch property strategy (BranchSource.getStrategy's default), and an
    <id> for a source posted without one: "1", "2", ... (jenkinsci/branch-api-plugin: src/main/java/jenkins/branch/
    MultiBranchProject.java, buildSourceMap: "Generate ids of the form "1", "2", … on demand"; scm-api's
    SCMSource.getId only turns a null id into "")."""
    root = ET.fromstring(re.sub(r"^\s*<\?xml[^>]*\?>\s*", "", config_xml))
    if root.tag == MULTIBRANCH_CLASS:
        _fill_multibranch_defaults(root)
    for element in root.iter():
        plugin = PLUGIN_OF.get(element.get("class", element.tag))
        if plugin and "plugin" not in element.attrib:
            element.set("plugin", plugin)
        element.tail = None
        if element.text is not None and not element.text.strip():
            element.text = None
    ET.indent(root, space="  ")
    return "<?xml version='1.1' encoding='UTF-8'?>\n" + ET.tostring(root, encoding="unicode")


def _fill_multibranch_defaults(root: ET.Element) -> None:
    owner = {"class": MULTIBRANCH_CLASS, "reference": "../.."}
    position = [child.tag for child in root].index("properties") + 1 if root.find("properties") is not None else 0
    for tag, extra in (("folderViews", "jenkins.branch.MultiBranchProjectViewHolder"), ("healthMetrics", None),
                       ("icon", "jenkins.branch.MetadataActionFolderIcon")):
        if root.find(tag) is None:
            element = ET.Element(tag, {"class": extra} if extra else {})
            if extra:
                ET.SubElement(element, "owner", owner)
            else:
                worst = ET.SubElement(element, "com.cloudbees.hudson.plugins.folder.health.WorstChildHealthMetric",
                                      {"plugin": "cloudbees-folder@6.1100.ve9eed61d16c4"})
                ET.SubElement(worst, "nonRecursive").text = "false"
            root.insert(position, element)
            position += 1
    taken = {source.findtext("id") for source in root.iter("source")}
    for branch_source in root.iter("jenkins.branch.BranchSource"):
        source = branch_source.find("source")
        if source is not None and not (source.findtext("id") or "").strip():
            count = 1
            while str(count) in taken:  # MultiBranchProject.buildSourceMap: the first number not taken
                count += 1
            taken.add(str(count))
            identifier = source.find("id")
            if identifier is None:
                identifier = ET.Element("id")
                source.insert(0, identifier)
            identifier.text = str(count)
        if branch_source.find("strategy") is None:
            strategy = ET.Element("strategy", {"class": "jenkins.branch.DefaultBranchPropertyStrategy"})
            ET.SubElement(strategy, "properties", {"class": "empty-list"})
            branch_source.insert(1, strategy)
