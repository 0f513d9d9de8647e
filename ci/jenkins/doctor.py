"""`ci jenkins doctor`'s checks: what the Jenkinsfile needs from a Jenkins, judged from what its REST API shows.

Each check is one line with its fix, in the order of docs/jenkins.md's "First build on your Jenkins". A fact Jenkins
does not show to this user is a failed check that says which permission would show it: doctor passes only on
what it saw.
"""

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from ci.config import JenkinsConfig
from ci.jenkins import job_xml
from ci.jenkins.answers import INPUT_STEP_EXPORTS_SINCE, input_step_shows_inputs
from ci.jenkins.step_plugins import required_plugins
from ci.jenkins.webhook import TOKEN_PLACE, TOKEN_VARIABLE

# The oldest core the current releases of the plugins below run on: pipeline-input-step 532.v9e7466cb_4406 (the
# JENKINS-40594 fix) is built against jenkins.version 2.479.1 (its pom.xml).
MIN_JENKINS = "2.479.1"
# The Jenkinsfile's input reads its submitters from this global variable, else release-managers.
SUBMITTER_VARIABLE = "RELEASE_MANAGERS"
# Prints the global environment variables (Manage Jenkins » System » Global properties) as JSON.
GLOBAL_ENV_SCRIPT = ("def p = jenkins.model.Jenkins.get().globalNodeProperties"
                     ".get(hudson.slaves.EnvironmentVariablesNodeProperty)\n"
                     "println(groovy.json.JsonOutput.toJson(p == null ? [:] : p.envVars))")
# Prints, as JSON, the ids of the credentials a job of the project can use and those of the root store with scope
# System. CredentialsProvider.lookupCredentials in the project (an ItemGroup: the cast picks that overload, the
# project being an Item too) with ACL.SYSTEM leaves out System-scoped credentials (jenkinsci/credentials-plugin:
# src/main/java/com/cloudbees/plugins/credentials/CredentialsProvider.java lookupCredentials(Class, ItemGroup,
# Authentication, List), SystemCredentialsProvider.java ProviderImpl.getCredentialsInItemGroup: not(withScope(SYSTEM))
# unless the group is Jenkins itself) and includes the folder stores above (cloudbees-folder
# FolderCredentialsProvider.getCredentialsInItemGroup). The REST pages cannot tell: CredentialsStoreAction's
# CredentialsWrapper exports no scope.
CREDENTIALS_SCRIPT = """import com.cloudbees.plugins.credentials.CredentialsProvider
import com.cloudbees.plugins.credentials.CredentialsScope
import com.cloudbees.plugins.credentials.common.StandardCredentials
import hudson.model.ItemGroup
import hudson.security.ACL
import jenkins.model.Jenkins
def root = Jenkins.get()
def project = root.getItemByFullName('%s')
def lookup = { group -> CredentialsProvider.lookupCredentials(StandardCredentials, (ItemGroup) group, ACL.SYSTEM, []) }
def usable = project instanceof ItemGroup ? lookup(project).collect { it.id } : null
def system = lookup(root).findAll { it.scope == CredentialsScope.SYSTEM }.collect { it.id }
println(groovy.json.JsonOutput.toJson([usable: usable, system: system]))"""
# A repository no job uses: the webhook check then triggers nothing (GitStatus answers "No git jobs ...").
PROBE_REPOSITORY = "https://ci-jenkins-doctor.invalid/no-such-repository.git"


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    found: str
    fix: str = ""

    def line(self) -> str:
        mark = "ok  " if self.passed else "FAIL"
        return f"{mark} {self.name}: {self.found}" + ("" if self.passed else f" -> {self.fix}")


@dataclass
class Facts:
    """What doctor read; None where Jenkins did not show it, with the reason in `unreadable`."""

    version: str
    jenkinsfile: str
    plugins: dict | None = None  # shortName -> (version, active)
    job_config: str | None = None
    credential_ids: set | None = None  # the ids a job can use (scope checked) or the stores show (not checked)
    credential_system_ids: set = field(default_factory=set)
    credential_scope_checked: bool = False
    computers: list | None = None
    label_clouds: dict | None = None  # label -> the classes of the clouds that can provision it
    global_env: dict | None = None
    webhook_status: int | None = None
    webhook_token_given: bool = False
    unreadable: dict = field(default_factory=dict)


def credential_ids(jenkinsfile: str) -> list[str]:
    return list(dict.fromkeys(re.findall(r"credentialsId:\s*'([^']+)'", jenkinsfile)))


def agent_labels(jenkinsfile: str) -> list[str]:
    return list(dict.fromkeys(re.findall(r"\blabel\s+'([^']+)'", jenkinsfile)))


def credentials_script(job_name: str) -> str:
    return CREDENTIALS_SCRIPT % job_name.replace("\\", "\\\\").replace("'", "\\'")


def global_env_from(script_output: str) -> dict:
    return json.loads(script_output.strip() or "{}")


def checks(facts: Facts, jenkins: JenkinsConfig) -> list[Check]:
    return [_version(facts), _plugins(facts), _input_step(facts), _stage_view(), *_job(facts, jenkins),
            _credentials(facts), _agent(facts), _submitters(facts, jenkins), _webhook(facts, jenkins)]


def _version(facts: Facts) -> Check:
    ok = _numbers(facts.version) >= _numbers(MIN_JENKINS)
    return Check("Jenkins version", ok, f"{facts.version} (X-Jenkins)",
                 f"upgrade Jenkins to {MIN_JENKINS} or newer (the current plugins need it)")


def _plugins(facts: Facts) -> Check:
    needed = required_plugins(facts.jenkinsfile)
    if facts.plugins is None:
        return _cannot("plugins", facts, "plugins", "run doctor as a user with Overall/SystemRead or Administer")
    missing = [name for name in needed if name not in facts.plugins]
    inactive = [name for name in needed if name in facts.plugins and not facts.plugins[name][1]]
    if not missing and not inactive:
        return Check("plugins", True, f"all {len(needed)} the Jenkinsfile and the job need are active")
    found = "; ".join(part for part in (missing and f"missing {', '.join(missing)}",
                                        inactive and f"inactive {', '.join(inactive)}") if part)
    return Check("plugins", False, found, "install or enable them in Manage Jenkins » Plugins, then restart Jenkins")


def _input_step(facts: Facts) -> Check:
    version = (facts.plugins or {}).get("pipeline-input-step", ("", False))[0]
    if not version:
        return Check("input step REST data", False, "pipeline-input-step not seen",
                     "install Pipeline: Input Step (see plugins)")
    ok = input_step_shows_inputs(version)
    return Check("input step REST data", ok, f"pipeline-input-step {version}",
                 f"update it to {INPUT_STEP_EXPORTS_SINCE} or newer: older ones do not show pending inputs to "
                 f"`ci jenkins pending`")


def _stage_view() -> Check:
    return Check("Stage View", True, "not needed: ci jenkins reads the input step's own REST data")


def _job(facts: Facts, jenkins: JenkinsConfig) -> list[Check]:
    sync = "run `python -m ci jenkins sync-job`"
    if facts.job_config is None:
        return [_cannot("job type", facts, "job", sync)]
    root = ET.fromstring(re.sub(r"^\s*<\?xml[^>]*\?>", "", facts.job_config))
    if root.tag != job_xml.PROJECT_CLASS:
        kind = "a plain Pipeline job" if root.tag == job_xml.PIPELINE_JOB_TAG else f"a <{root.tag}>"
        return [Check("job type", False, f"{jenkins.job_name} is {kind}",
                      f"rename or delete it in Jenkins, then {sync}: release stages need a Multibranch Pipeline")]
    source = root.find(f"{job_xml.SOURCE_PATH}/source")
    remote = source.findtext("remote") if source is not None else None
    credentials = (source.findtext("credentialsId") if source is not None else None) or ""
    traits = {trait.tag for trait in (source.find("traits") if source is not None else None) or []}
    strategies = root.find(f"{job_xml.SOURCE_PATH}/buildStrategies")
    strategy_tags = {strategy.tag for strategy in strategies} if strategies is not None else set()
    source_ok = (source is not None and source.get("class") == job_xml.GIT_SOURCE_CLASS and remote == jenkins.scm_url
                 and credentials == jenkins.scm_credentials_id)
    discovery = [tag.rsplit(".", 1)[-1] for tag in (job_xml.BRANCH_DISCOVERY, job_xml.TAG_DISCOVERY)
                 if tag not in traits]
    strategy_missing = [tag.rsplit(".", 1)[-1] for tag in (job_xml.BRANCH_STRATEGY, job_xml.TAG_STRATEGY)
                        if tag not in strategy_tags]
    return [
        Check("job type", True, f"{jenkins.job_name} is a Multibranch Pipeline"),
        Check("git source", source_ok, f"{remote or 'no git source'} with credentials "
                                       f"{credentials or '(none)'}", f"{sync} (ci.toml [jenkins] scm_url "
                                                                     f"{jenkins.scm_url or '(unset)'})"),
        Check("branch and tag discovery", not discovery,
              "both" if not discovery else f"missing {', '.join(discovery)}", sync),
        Check("tag build strategy", not strategy_missing,
              "branches and new tags are built" if not strategy_missing else f"missing {', '.join(strategy_missing)}"
              " (without a tag strategy branch-api never builds tags)", sync),
    ]


def _credentials(facts: Facts) -> Check:
    wanted = credential_ids(facts.jenkinsfile)
    if facts.credential_ids is None:
        return _cannot("credentials", facts, "credentials",
                       "run doctor as a user with Credentials/View on Jenkins and the job")
    missing = [identifier for identifier in wanted if identifier not in facts.credential_ids]
    if not missing:
        return Check("credentials", True, f"{', '.join(wanted)} usable by the job" if facts.credential_scope_checked
                     else f"{', '.join(wanted)} visible to the job (scope not checked: needs an administrator)")
    system = [identifier for identifier in missing if identifier in facts.credential_system_ids]
    absent = [identifier for identifier in missing if identifier not in system]
    found = "; ".join([f"missing {', '.join(absent)}"] * bool(absent) +
                      [f"{', '.join(system)}: scope System: jobs cannot use it; make it Global"] * bool(system))
    return Check("credentials", False, found, "add them in Manage Jenkins » Credentials with scope Global (global "
                                              "domain), or in the project's folder store")


def _agent(facts: Facts) -> Check:
    labels = agent_labels(facts.jenkinsfile)
    if facts.computers is None:
        return _cannot("agent", facts, "agent", "run doctor as a user with Overall/Read")
    online = [label for label in labels if any(
        not computer.get("offline") and computer.get("numExecutors", 0) > 0
        and label in {item.get("name") for item in computer.get("assignedLabels") or []}
        for computer in facts.computers)]
    clouds = {label: (facts.label_clouds or {}).get(label) or [] for label in labels if label not in online}
    missing = [label for label, provisioning in clouds.items() if not provisioning]
    found = "; ".join([f"online agents with executors for {', '.join(online)}"] * bool(online) + [
        f"{label} from cloud {', '.join(name.rsplit('.', 1)[-1] for name in provisioning)}"
        for label, provisioning in clouds.items() if provisioning])
    return Check("agent", not missing, found if not missing
                 else f"no online agent with an executor and no cloud has label {', '.join(missing)}",
                 "connect an agent with Docker and give it that label (Manage Jenkins » Nodes), or a cloud "
                 "that provisions it (Manage Jenkins » Clouds)")


def _submitters(facts: Facts, jenkins: JenkinsConfig) -> Check:
    if facts.global_env is None:
        return _cannot("release managers", facts, "global_env", "run doctor as an administrator (Overall/Administer "
                                                                "reads the global environment through /scriptText)")
    submitter = facts.global_env.get(SUBMITTER_VARIABLE) or "release-managers"
    return Check("release managers", submitter == jenkins.release_managers,
                 f"the approval input's submitters are {submitter}",
                 f"set global variable {SUBMITTER_VARIABLE}={jenkins.release_managers} (Manage Jenkins » System), or "
                 f"ci.toml [jenkins] release_managers to {submitter}")


def _webhook(facts: Facts, jenkins: JenkinsConfig) -> Check:
    status = facts.webhook_status
    fix = f"make a token in {TOKEN_PLACE}, give it to the git server's webhook and to doctor as {TOKEN_VARIABLE}"
    if status == 200:
        found = "a notifyCommit with the token is accepted" if facts.webhook_token_given \
            else "this Jenkins accepts notifyCommit without a token"
        return Check("webhook token", True, found)
    if status == 404:
        return Check("webhook token", False, "no /git/notifyCommit", "install the git plugin")
    if status == 401:
        return Check("webhook token", False, f"cannot check: {TOKEN_VARIABLE} is not set and Jenkins requires a "
                                             f"token", fix)
    if status == 403:
        return Check("webhook token", False, f"the token in {TOKEN_VARIABLE} is refused", fix)
    return _cannot("webhook token", facts, "webhook", fix)


def _cannot(name: str, facts: Facts, fact: str, fix: str) -> Check:
    return Check(name, False, f"cannot check: {facts.unreadable.get(fact, 'Jenkins did not show it')}", fix)


def _numbers(version: str) -> list[int]:
    return [int(part) for part in re.findall(r"\d+", version)]
