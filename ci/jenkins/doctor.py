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
# Each script prints its result as one line: this marker, then JSON. Anything else is the script's own failure:
# /scriptText answers 200 even then, with the stack trace as its text (jenkinsci/jenkins: core/src/main/java/
# hudson/util/RemotingDiagnostics.java Script.call: catch (Throwable t) { Functions.printStackTrace(t, pw); };
# jenkins/model/Jenkins.java _doScript; core/src/main/resources/jenkins/model/Jenkins/_scriptText.jelly).
RESULT_MARKER = "ci-jenkins-doctor-result: "
# Prints the global environment variables (Manage Jenkins » System » Global properties).
GLOBAL_ENV_SCRIPT = ("def p = jenkins.model.Jenkins.get().globalNodeProperties"
                     ".get(hudson.slaves.EnvironmentVariablesNodeProperty)\n"
                     f"println('{RESULT_MARKER}' + groovy.json.JsonOutput.toJson(p == null ? [:] : p.envVars))")
# Each withCredentials binding the Jenkinsfile uses -> the interface its credential must implement, and the kind
# of credential that does: credentials-binding's MultiBinding.getCredentials refuses any other ("Credentials '…' is
# of type '…' where '…' was expected") (jenkinsci/credentials-binding-plugin: src/main/java/org/jenkinsci/plugins/
# credentialsbinding/MultiBinding.java getCredentials; impl/UsernamePasswordMultiBinding.java,
# SSHUserPrivateKeyBinding.java, FileBinding.java type()).
BINDING_TYPES = {
    "usernamePassword": ("com.cloudbees.plugins.credentials.common.StandardUsernamePasswordCredentials",
                         "a Username with password"),
    "sshUserPrivateKey": ("com.cloudbees.jenkins.plugins.sshcredentials.SSHUserPrivateKey",
                          "an SSH Username with private key"),
    "file": ("org.jenkinsci.plugins.plaincredentials.FileCredentials", "a Secret file"),
}
# The REST pages' typeName (CredentialsStoreAction.CredentialsWrapper.getTypeName: the credential's descriptor
# display name) of the standard kinds -> the interfaces above they implement (credentials-plugin
# UsernamePasswordCredentialsImpl, ssh-credentials BasicSSHUserPrivateKey, plain-credentials FileCredentialsImpl and
# StringCredentialsImpl, credentials-plugin CertificateCredentialsImpl). Another plugin's kind is not judged.
TYPE_NAME_KINDS = {
    "Username with password": {BINDING_TYPES["usernamePassword"][0]},
    "SSH Username with private key": {BINDING_TYPES["sshUserPrivateKey"][0]},
    "Secret file": {BINDING_TYPES["file"][0]},
    "Secret text": set(),
    "Certificate": set(),
}
# Prints the credentials a job of the project can use, each id with its type and the interfaces above it
# implements, and the ids of the root store with scope System. CredentialsProvider.lookupCredentials in the project
# (an ItemGroup: the cast picks that overload, the project being an Item too) with ACL.SYSTEM leaves out
# System-scoped credentials (jenkinsci/credentials-plugin: src/main/java/com/cloudbees/plugins/credentials/
# CredentialsProvider.java lookupCredentials(Class, ItemGroup, Authentication, List), SystemCredentialsProvider.java
# ProviderImpl.getCredentialsInItemGroup: not(withScope(SYSTEM)) unless the group is Jenkins itself) and includes the
# folder stores above (cloudbees-folder FolderCredentialsProvider.getCredentialsInItemGroup). No project yet, or a
# plain job (no ItemGroup): the nearest folder above, or the root, without System scope: what its job will see.
# The interfaces are loaded by name, so that a missing plugin leaves its kind out instead of failing the script.
# The REST pages cannot tell the scope: CredentialsStoreAction's CredentialsWrapper exports none.
CREDENTIALS_SCRIPT = """import com.cloudbees.plugins.credentials.CredentialsProvider
import com.cloudbees.plugins.credentials.CredentialsScope
import com.cloudbees.plugins.credentials.common.StandardCredentials
import hudson.model.ItemGroup
import hudson.security.ACL
import jenkins.model.Jenkins
def root = Jenkins.get()
def names = '%s'.tokenize('/')
def path = { n -> n ? root.getItemByFullName(names.take(n).join('/')) : root }
def group = (names.size()..0).collect(path).find { it instanceof ItemGroup }
def loader = root.pluginManager.uberClassLoader
def kinds = %s.findResults { name -> try { loader.loadClass(name) } catch (ClassNotFoundException e) { null } }
def lookup = { g -> CredentialsProvider.lookupCredentials(StandardCredentials, (ItemGroup) g, ACL.SYSTEM, []) }
def usable = lookup(group).findAll { it.scope != CredentialsScope.SYSTEM }.collectEntries { c ->
    [(c.id): [type: c.descriptor.displayName, kinds: kinds.findAll { it.isInstance(c) }*.name]] }
def system = lookup(root).findAll { it.scope == CredentialsScope.SYSTEM }.collect { it.id }
println('""" + RESULT_MARKER + """' + groovy.json.JsonOutput.toJson([usable: usable, system: system]))"""
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
    credentials: dict | None = None  # the ids a job can use (scope checked) or the stores show (not checked) ->
    # (type name, the BINDING_TYPES interfaces it implements, or None where that was not seen)
    credential_system_ids: set = field(default_factory=set)
    credential_scope_checked: bool = False
    computers: list | None = None
    label_clouds: dict | None = None  # label -> the classes of the clouds that can provision it
    global_env: dict | None = None
    webhook_status: int | None = None
    webhook_token_given: bool = False
    unreadable: dict = field(default_factory=dict)
    script_failures: dict = field(default_factory=dict)  # fact -> the first line a failing check script printed


class ScriptFailed(Exception):
    """A check script that did not print its result line: str() is the first line of what it printed."""


def credential_bindings(jenkinsfile: str) -> dict[str, str]:
    """Each credentials id the Jenkinsfile names -> the withCredentials binding it is used with."""
    return {identifier: binding for binding, identifier in
            re.findall(r"\b(\w+)\(\s*credentialsId:\s*'([^']+)'", jenkinsfile)}


def agent_labels(jenkinsfile: str) -> list[str]:
    return list(dict.fromkeys(re.findall(r"\blabel\s+'([^']+)'", jenkinsfile)))


def credentials_script(job_name: str) -> str:
    interfaces = "[" + ", ".join(f"'{interface}'" for interface, _ in BINDING_TYPES.values()) + "]"
    return CREDENTIALS_SCRIPT % (job_name.replace("\\", "\\\\").replace("'", "\\'"), interfaces)


def script_result(answer: str):
    """The JSON of a check script's result line; ScriptFailed when the answer has none (the stack trace of a
    script that threw, or that did not compile on this Jenkins)."""
    for line in answer.splitlines():
        if line.startswith(RESULT_MARKER):
            try:
                return json.loads(line[len(RESULT_MARKER):])
            except ValueError:
                break
    raise ScriptFailed(next((line.strip() for line in answer.splitlines() if line.strip()), "an empty answer"))


def kinds_of_type_name(type_name: str) -> set | None:
    return TYPE_NAME_KINDS.get(type_name)


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
    wanted = credential_bindings(facts.jenkinsfile)
    if facts.credentials is None:
        return _cannot("credentials", facts, "credentials",
                       "run doctor as a user with Credentials/View on Jenkins and the job")
    missing = [identifier for identifier in wanted if identifier not in facts.credentials]
    present = {identifier: facts.credentials[identifier] for identifier in wanted if identifier not in missing}
    wrong = [f"{identifier} is of type {type_name} where {wanted[identifier]}() needs "
             f"{BINDING_TYPES[wanted[identifier]][1]} ({BINDING_TYPES[wanted[identifier]][0].rsplit('.', 1)[-1]})"
             for identifier, (type_name, kinds) in present.items()
             if wanted[identifier] in BINDING_TYPES and kinds is not None
             and BINDING_TYPES[wanted[identifier]][0] not in kinds]
    unchecked = [f"kind of {identifier} not checked (type {type_name})"
                 for identifier, (type_name, kinds) in present.items()
                 if kinds is None or wanted[identifier] not in BINDING_TYPES]
    if not missing and not wrong:
        scope = "usable by the job" if facts.credential_scope_checked \
            else "visible to the job (scope not checked: needs an administrator)"
        return Check("credentials", True, "; ".join([f"{', '.join(wanted)} {scope}", *unchecked]))
    system = [identifier for identifier in missing if identifier in facts.credential_system_ids]
    absent = [identifier for identifier in missing if identifier not in system]
    found = "; ".join([f"missing {', '.join(absent)}"] * bool(absent) +
                      [f"{', '.join(system)}: scope System: jobs cannot use it; make it Global"] * bool(system) +
                      wrong)
    return Check("credentials", False, found, "add them in Manage Jenkins » Credentials with scope Global (global "
                                              "domain), or in the project's folder store, each of the kind its "
                                              "binding needs; builds that run as a user (Authorize Project) can use "
                                              "only what that user may use (Credentials/UseItem)")


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
    if fact in facts.script_failures:
        return Check(name, False, f"the check script failed on this Jenkins: {facts.script_failures[fact]}",
                     "run that check's script (ci/jenkins/doctor.py) in Manage Jenkins » Script Console to see the "
                     "whole error; a class it cannot resolve names a missing plugin")
    return Check(name, False, f"cannot check: {facts.unreadable.get(fact, 'Jenkins did not show it')}", fix)


def _numbers(version: str) -> list[int]:
    return [int(part) for part in re.findall(r"\d+", version)]
