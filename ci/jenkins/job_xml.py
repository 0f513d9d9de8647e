"""The Multibranch Pipeline job's config.xml that `sync-job` owns, and how it compares with what Jenkins stores.

Class and field names are those XStream writes for these plugins' classes (a posted config.xml is read by XStream,
so fields, not constructor arguments, are what count):
- jenkinsci/workflow-multibranch-plugin: WorkflowMultiBranchProject, WorkflowBranchProjectFactory (scriptPath);
- jenkinsci/branch-api-plugin: src/main/java/jenkins/branch/BranchSource.java (source, strategy, buildStrategies),
  MultiBranchProject$BranchSourceList; the layout Jenkins re-saves, with owner references, folderViews,
  healthMetrics and icon, as in src/test/resources/jenkins/branch/MultiBranchProjectSourcesTest/oldMBPWithIds/;
- jenkinsci/git-plugin: src/main/java/jenkins/plugins/git/GitSCMSource.java (remote, credentialsId, traits),
  traits/BranchDiscoveryTrait.java and traits/TagDiscoveryTrait.java;
- jenkinsci/basic-branch-build-strategies-plugin: src/main/java/jenkins/branch/buildstrategies/basic/
  BranchBuildStrategyImpl.java (regular branches, never tags) and TagBuildStrategyImpl.java (atLeastMillis,
  atMostMillis: a tag older than atMostMillis is not built automatically, its age being that of its tagged commit's
  commit time: git-plugin AbstractGitSCMSource.discoverTags makes GitTagSCMHead(name, commit.getCommitTime()));
- jenkinsci/cloudbees-folder-plugin: computed/PeriodicFolderTrigger.java (spec from toCrontab(interval), interval in
  milliseconds) and computed/DefaultOrphanedItemStrategy.
"""

import copy
import difflib
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from ci.config import JenkinsConfig
from ci.errors import CannotRun, ConfigError, UserError

PROJECT_CLASS = "org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject"
PIPELINE_JOB_TAG = "flow-definition"
FACTORY_CLASS = "org.jenkinsci.plugins.workflow.multibranch.WorkflowBranchProjectFactory"
GIT_SOURCE_CLASS = "jenkins.plugins.git.GitSCMSource"
BRANCH_DISCOVERY = "jenkins.plugins.git.traits.BranchDiscoveryTrait"
TAG_DISCOVERY = "jenkins.plugins.git.traits.TagDiscoveryTrait"
BRANCH_STRATEGY = "jenkins.branch.buildstrategies.basic.BranchBuildStrategyImpl"
TAG_STRATEGY = "jenkins.branch.buildstrategies.basic.TagBuildStrategyImpl"
SCAN_TRIGGER = "com.cloudbees.hudson.plugins.folder.computed.PeriodicFolderTrigger"
ORPHANS_CLASS = "com.cloudbees.hudson.plugins.folder.computed.DefaultOrphanedItemStrategy"
SOURCE_PATH = "sources/data/jenkins.branch.BranchSource"
# What sync-job writes and compares; everything else in the job (its actions, properties, views, health metrics,
# icon, the source's id, owner references, branch property strategy) is Jenkins's or another tool's, and kept.
OWNED = ("description", "orphanedItemStrategy", "triggers", "disabled", f"{SOURCE_PATH}/source",
         f"{SOURCE_PATH}/buildStrategies", "factory")
# Inside the owned elements, what Jenkins adds or generates itself.
NOT_OWNED_INSIDE = ("id", "owner")
_DAY_MILLIS = 86_400_000
_UNITS_MILLIS = {"m": 60_000, "h": 3_600_000, "d": _DAY_MILLIS}


@dataclass(frozen=True)
class SyncPlan:
    action: str  # "create", "update" or "unchanged"
    diff: list[str]
    # What to send for create or update: ours, plus what others keep in the job (see merged_job_xml).
    config_xml: str


def job_config_xml(jenkins: JenkinsConfig) -> str:
    """The Multibranch Pipeline: the Jenkinsfile of every branch and every new tag of the git repository."""
    if not jenkins.scm_url:
        raise ConfigError("jenkins.scm_url is not set: sync-job needs the repository Jenkins checks out "
                          "(ci.toml [jenkins] scm_url, or MLCI_JENKINS_SCM_URL)")
    owner = {"class": PROJECT_CLASS, "reference": "../.."}
    root = ET.Element(PROJECT_CLASS)
    ET.SubElement(root, "actions")
    _text(root, "description", f"Builds {jenkins.jenkinsfile} of every branch and every new tag of "
                               f"{jenkins.scm_url}; releases from {jenkins.branch} and v* tags, approved by "
                               f"{jenkins.release_managers}. Managed by `python -m ci jenkins sync-job` from ci.toml "
                               f"[jenkins]: changes made here are overwritten.")
    ET.SubElement(root, "properties")
    orphans = ET.SubElement(root, "orphanedItemStrategy", {"class": ORPHANS_CLASS})
    # A deleted branch's job goes with it; its builds were only CI. Tags are never deleted in practice.
    for tag, value in (("pruneDeadBranches", "true"), ("daysToKeep", "-1"), ("numToKeep", "-1"),
                       ("abortBuilds", "false")):
        _text(orphans, tag, value)
    trigger = ET.SubElement(ET.SubElement(root, "triggers"), SCAN_TRIGGER)
    interval = scan_interval_millis(jenkins.scan_interval)
    _text(trigger, "spec", scan_crontab(interval))
    _text(trigger, "interval", str(interval))
    _text(root, "disabled", "false")
    sources = ET.SubElement(root, "sources", {"class": "jenkins.branch.MultiBranchProject$BranchSourceList"})
    branch_source = ET.SubElement(ET.SubElement(sources, "data"), "jenkins.branch.BranchSource")
    source = ET.SubElement(branch_source, "source", {"class": GIT_SOURCE_CLASS})
    # A stable id of our own: branch jobs are bound to their source's id, and Jenkins would otherwise invent one.
    _text(source, "id", f"{jenkins.job_name.replace('/', '-')}-git")
    _text(source, "remote", jenkins.scm_url)
    if jenkins.scm_credentials_id:
        _text(source, "credentialsId", jenkins.scm_credentials_id)
    traits = ET.SubElement(source, "traits")
    # Branch jobs get BRANCH_NAME, tag jobs TAG_NAME: what the Jenkinsfile's `when { branch }` / `when { tag }` read.
    ET.SubElement(traits, BRANCH_DISCOVERY)
    ET.SubElement(traits, TAG_DISCOVERY)
    strategies = ET.SubElement(branch_source, "buildStrategies")
    # With no build strategy branch-api builds anything but tags; with strategies, exactly what one of them allows.
    ET.SubElement(strategies, BRANCH_STRATEGY)
    tags = ET.SubElement(strategies, TAG_STRATEGY)
    _text(tags, "atLeastMillis", "-1")
    _text(tags, "atMostMillis", str(jenkins.tag_max_age_days * _DAY_MILLIS))
    ET.SubElement(sources, "owner", owner)
    factory = ET.SubElement(root, "factory", {"class": FACTORY_CLASS})
    ET.SubElement(factory, "owner", owner)
    _text(factory, "scriptPath", jenkins.jenkinsfile)
    return _serialized(root)


def scan_interval_millis(interval: str) -> int:
    """As PeriodicFolderTrigger.toIntervalMillis, but a value it would silently turn into 1 minute is refused."""
    match = re.fullmatch(r"(\d+)([mhd])", interval.strip().lower())
    if not match:
        raise ConfigError(f"jenkins.scan_interval must be a number with m, h or d (such as 1h), got {interval!r}")
    millis = int(match.group(1)) * _UNITS_MILLIS[match.group(2)]
    return min(30 * _DAY_MILLIS, max(60_000, millis))


def scan_crontab(millis: int) -> str:
    """PeriodicFolderTrigger.toCrontab: how often Jenkins wakes the trigger to see whether the interval passed."""
    for limit, spec in ((5 * 60_000, "* * * * *"), (30 * 60_000, "H/5 * * * *"), (3_600_000, "H/15 * * * *"),
                        (8 * 3_600_000, "H/30 * * * *"), (_DAY_MILLIS, "H H/4 * * *"),
                        (2 * _DAY_MILLIS, "H H/12 * * *")):
        if millis <= limit:
            return spec
    return "H H * * *"


def owned_view(text: str) -> str:
    """The parts of a job's config.xml that sync-job owns, in a canonical form: Jenkins re-serializes a posted config
    (XML 1.1 declaration, plugin="name@version" attributes, its own layout, ids and owner references it adds), so
    a byte comparison would see a change on every sync. Lists whose order means nothing (traits) are sorted."""
    root = _parsed(text)
    view = ET.Element(root.tag)
    for path in OWNED:
        for element in root.findall(path):
            view.append(_canonical(element, sort_children=path.endswith("/source")))
    ET.indent(view, space="  ")
    return ET.tostring(view, encoding="unicode")


def merged_job_xml(current: str, desired: str) -> str:
    """Ours, keeping what others own: Jenkins's actions, properties, views and the source's id (branch jobs belong
    to it), a folder credentials store, anything a plugin added."""
    have, want = _parsed(current), _parsed(desired)
    if have.tag == PIPELINE_JOB_TAG:
        raise UserError("the job in Jenkins is a plain Pipeline job (<flow-definition>), not a Multibranch Pipeline: "
                        "in it the Jenkinsfile's release stages never run (no BRANCH_NAME or TAG_NAME). Rename or "
                        "delete it in Jenkins (its build history goes with it), or set another [jenkins] job_name, "
                        "then run sync-job again")
    if have.tag != want.tag:
        raise UserError(f"the job in Jenkins is a <{have.tag}>, not a Multibranch Pipeline (<{want.tag}>): rename or "
                        f"delete it in Jenkins, or set another [jenkins] job_name")
    old_source = have.find(f"{SOURCE_PATH}/source")
    if old_source is not None and old_source.findtext("id"):
        want.find(f"{SOURCE_PATH}/source/id").text = old_source.findtext("id")
    merged = have
    for path in OWNED:
        parent_path, _, tag = path.rpartition("/")
        _ensure_parents(merged, want, parent_path)
        parent = merged.find(parent_path) if parent_path else merged
        ours = copy.deepcopy(want.find(path))
        theirs = parent.find(tag)
        if theirs is None:
            parent.append(ours)
        else:
            parent[list(parent).index(theirs)] = ours
    return _serialized(merged)


def _ensure_parents(merged: ET.Element, want: ET.Element, parent_path: str) -> None:
    """A job with no git source yet (made by hand, or by another tool) gets ours whole, owner references included."""
    if not parent_path:
        return
    steps = parent_path.split("/")
    for depth in range(1, len(steps) + 1):
        prefix = "/".join(steps[:depth])
        if merged.find(prefix) is None:
            above = merged.find("/".join(steps[:depth - 1])) if depth > 1 else merged
            above.append(copy.deepcopy(want.find(prefix)))
            return


def sync_plan(current: str | None, desired: str, job_name: str) -> SyncPlan:
    """Create a missing job, leave an equal one alone, and otherwise update it, showing what changes."""
    if current is None:
        return SyncPlan("create", [], desired)
    merged = merged_job_xml(current, desired)
    old, new = owned_view(current), owned_view(merged)
    if old == new:
        return SyncPlan("unchanged", [], merged)
    diff = difflib.unified_diff(old.splitlines(), new.splitlines(), fromfile=f"{job_name} (in Jenkins)",
                                tofile=f"{job_name} (from ci.toml)", lineterm="")
    return SyncPlan("update", list(diff), merged)


def job_kind(text: str) -> str:
    return _parsed(text).tag


def _canonical(element: ET.Element, sort_children: bool) -> ET.Element:
    copy = ET.Element(element.tag, {name: value for name, value in sorted(element.attrib.items())
                                    if name != "plugin"})
    copy.text = element.text.strip() if element.text and element.text.strip() else None
    children = [child for child in element if child.tag not in NOT_OWNED_INSIDE]
    for child in children:
        copy.append(_canonical(child, sort_children=child.tag == "traits"))
    if sort_children:
        copy[:] = sorted(copy, key=lambda child: child.tag)
    return copy


def _parsed(text: str) -> ET.Element:
    try:
        return ET.fromstring(re.sub(r"^\s*<\?xml[^>]*\?>", "", text))
    except ET.ParseError as error:
        raise CannotRun(f"the job's config.xml is not XML: {error}") from None


def _serialized(root: ET.Element) -> str:
    for element in root.iter():
        element.tail = None
        if element.text is not None and not element.text.strip():
            element.text = None
    ET.indent(root, space="  ")
    return "<?xml version='1.0' encoding='UTF-8'?>\n" + ET.tostring(root, encoding="unicode") + "\n"


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = text
    return element
