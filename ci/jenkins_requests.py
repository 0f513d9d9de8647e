"""Pure Jenkins helpers: the job's config.xml, REST paths, and what Jenkins's answers mean for `ci jenkins`."""

import difflib
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

from ci.config import JenkinsConfig
from ci.errors import EXIT_CANNOT_RUN, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, CannotRun, ConfigError, UserError

URL_VARIABLE = "JENKINS_URL"
USER_VARIABLE = "JENKINS_USER"
TOKEN_VARIABLE = "JENKINS_API_TOKEN"
TLS_VERIFY_VARIABLE = "JENKINS_TLS_VERIFY"
# The evidence a release manager reads before approving: what the pipeline archived under reports/.
EVIDENCE_PREFIX = "reports/"
# What a release manager opens first: `ci evidence`'s summary and `ci report`'s page.
EVIDENCE_FIRST = ("reports/evidence.md", "reports/pipeline.html", "reports/evidence.json")
# A build's result mirrored as this command's exit code, in the meanings of ci/errors.py: a red or yellow build
# is "the thing checked failed", an aborted one was interrupted, and NOT_BUILT never ran.
RESULT_EXIT_CODES = {
    "SUCCESS": EXIT_OK, "UNSTABLE": EXIT_FAILED, "FAILURE": EXIT_FAILED, "ABORTED": EXIT_INTERRUPTED,
    "NOT_BUILT": EXIT_CANNOT_RUN,
}
_TRUE_WORDS = ("true", "1", "yes", "on")
_FALSE_WORDS = ("false", "0", "no", "off")
_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class JenkinsConnection:
    url: str
    user: str
    token: str = field(repr=False)
    verify_tls: bool = True


@dataclass(frozen=True)
class SyncPlan:
    action: str  # "create", "update" or "unchanged"
    diff: list[str]
    # What to send for create or update: ours, plus what others keep in the job (see merged_job_xml).
    config_xml: str


@dataclass(frozen=True)
class QueueState:
    started: bool
    cancelled: bool
    build_number: int | None
    build_url: str
    why: str


@dataclass(frozen=True)
class ConsoleChunk:
    data: bytes
    next_start: int
    more: bool


@dataclass(frozen=True)
class BuildStatus:
    number: int
    url: str
    building: bool
    result: str | None
    duration_seconds: float


@dataclass(frozen=True)
class PendingInput:
    build_number: int
    input_id: str
    message: str
    proceed_text: str


@dataclass(eq=False)
class JenkinsFailure(Exception):
    """A Jenkins call that failed: what it tried (`read` + `build #7 of ml-model-service`), the HTTP status (None
    when no HTTP answer came), and a one-line detail with the token already removed."""

    action: str
    subject: str
    status: int | None
    detail: str
    reached: bool = True
    input_id: str | None = None
    bad_crumb: bool = False

    def __str__(self) -> str:
        status = f"HTTP {self.status}: " if self.status else ""
        return f"could not {self.action} {self.subject}: {status}{self.detail}"


# --- connection -------------------------------------------------------------------------------------------------

def connection_from(environ: Mapping[str, str], insecure: bool = False) -> JenkinsConnection:
    """URL, user and API token from the environment (Jenkins credentials binding); each one is required."""
    values = {}
    for variable in (URL_VARIABLE, USER_VARIABLE, TOKEN_VARIABLE):
        value = environ.get(variable, "").strip()
        if not value:
            raise ConfigError(f"{variable} is not set: the Jenkins client needs {URL_VARIABLE}, {USER_VARIABLE} "
                              f"and {TOKEN_VARIABLE} (an API token from <jenkins>/me/configure)")
        values[variable] = value
    url = values[URL_VARIABLE].rstrip("/") + "/"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{URL_VARIABLE} must be an http(s) URL such as https://jenkins.example.com/, "
                          f"got {_without_userinfo(values[URL_VARIABLE])!r}")
    if parts.username or parts.password:
        # The URL is printed in progress and error lines; credentials belong in the two variables that are not.
        raise ConfigError(f"{URL_VARIABLE} must not carry credentials ({_without_userinfo(url)}): set "
                          f"{USER_VARIABLE} and {TOKEN_VARIABLE} instead")
    return JenkinsConnection(url, values[USER_VARIABLE], values[TOKEN_VARIABLE],
                             verify_tls=not insecure and tls_verify_from(environ))


def tls_verify_from(environ: Mapping[str, str]) -> bool:
    raw = environ.get(TLS_VERIFY_VARIABLE, "").strip().lower()
    if raw in ("", *_TRUE_WORDS):
        return True
    if raw in _FALSE_WORDS:
        return False
    raise ConfigError(f"{TLS_VERIFY_VARIABLE} must be true or false, got {raw!r}")


def connection_warnings(connection: JenkinsConnection) -> list[str]:
    """What a person must see before anything is sent: a token that could be read or handed to an impostor."""
    parts = urlsplit(connection.url)
    warnings = []
    if parts.scheme == "https" and not connection.verify_tls:
        warnings.append(f"TLS certificate verification is OFF for {connection.url} (--insecure or "
                        f"{TLS_VERIFY_VARIABLE}=false): anyone in the path can impersonate Jenkins and take "
                        f"{USER_VARIABLE}'s API token")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK_HOSTS:
        warnings.append(f"{URL_VARIABLE} is plain http: {USER_VARIABLE}'s API token crosses the network unencrypted")
    return warnings


def _without_userinfo(url: str) -> str:
    return re.sub(r"//[^/@]*@", "//", url)


# --- the job ----------------------------------------------------------------------------------------------------

def job_config_xml(jenkins: JenkinsConfig) -> str:
    """The pipeline job's config.xml: the Jenkinsfile from git, started by pushes (webhook) and by polling."""
    if not jenkins.scm_url:
        raise ConfigError("jenkins.scm_url is not set: sync-job needs the repository Jenkins checks out "
                          "(ci.toml [jenkins] scm_url, or MLCI_JENKINS_SCM_URL)")
    root = ET.Element("flow-definition")
    ET.SubElement(root, "actions")
    _text(root, "description", f"Built from {jenkins.jenkinsfile} on {jenkins.branch}. Managed by `python -m ci "
                               f"jenkins sync-job` from ci.toml [jenkins]: changes made here are overwritten. "
                               f"Releases are approved by {jenkins.release_managers}.")
    _text(root, "keepDependencies", "false")
    properties = ET.SubElement(root, "properties")
    triggers_property = ET.SubElement(properties,
                                      "org.jenkinsci.plugins.workflow.job.properties.PipelineTriggersJobProperty")
    scm_trigger = ET.SubElement(ET.SubElement(triggers_property, "triggers"), "hudson.triggers.SCMTrigger")
    _text(scm_trigger, "spec", jenkins.poll_schedule)
    # A push trigger of its own would tie the job to one forge's plugin (GitHub, GitLab, generic webhook). The
    # git plugin's webhook, <jenkins>/git/notifyCommit?url=<scm_url>, works from any forge: it makes every job
    # polling that URL poll now, unless the job ignores post-commit hooks. So pushes start builds at once, and the
    # schedule above only catches a webhook that never arrived.
    _text(scm_trigger, "ignorePostCommitHooks", "false")
    definition = ET.SubElement(root, "definition", {"class": "org.jenkinsci.plugins.workflow.cps.CpsScmFlowDefinition"})
    scm = ET.SubElement(definition, "scm", {"class": "hudson.plugins.git.GitSCM"})
    _text(scm, "configVersion", "2")
    remote = ET.SubElement(ET.SubElement(scm, "userRemoteConfigs"), "hudson.plugins.git.UserRemoteConfig")
    _text(remote, "url", jenkins.scm_url)
    if jenkins.scm_credentials_id:
        _text(remote, "credentialsId", jenkins.scm_credentials_id)
    branch = ET.SubElement(ET.SubElement(scm, "branches"), "hudson.plugins.git.BranchSpec")
    _text(branch, "name", branch_spec(jenkins.branch))
    ET.SubElement(scm, "extensions")
    _text(definition, "scriptPath", jenkins.jenkinsfile)
    # Reads only the Jenkinsfile to start; the pipeline checks out the work tree itself.
    _text(definition, "lightweight", "true")
    # Where Jenkins keeps an empty legacy list: written so that what it stores equals what we send.
    ET.SubElement(root, "triggers")
    _text(root, "disabled", "false")
    ET.indent(root, space="  ")
    return "<?xml version='1.0' encoding='UTF-8'?>\n" + ET.tostring(root, encoding="unicode") + "\n"


def branch_spec(branch: str) -> str:
    """The git plugin's branch specifier: `main` becomes `*/main` (main on any remote); explicit forms stay."""
    return branch if branch.startswith(("*/", "refs/", ":")) else f"*/{branch}"


def normalized_job_xml(text: str) -> str:
    """config.xml reduced to what it means. Jenkins stores a posted config re-serialized (XML 1.1 declaration,
    plugin="name@version" on elements, its own layout and order of job properties), so a byte comparison would see
    a change on every sync. Gone: the declaration, plugin versions, layout whitespace, attribute order, and the order
    of the job's top-level elements and properties (lists whose order means nothing)."""
    root = _parsed(text)
    for element in root.iter():
        element.attrib = {name: value for name, value in sorted(element.attrib.items()) if name != "plugin"}
        element.text = element.text.strip() if element.text and element.text.strip() else None
        element.tail = None
    for unordered in (root, root.find("properties")):
        if unordered is not None:
            unordered[:] = sorted(unordered, key=lambda child: child.tag)
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="unicode")


def merged_job_xml(current: str, desired: str) -> str:
    """Ours, keeping what others own in the job. A declarative Jenkinsfile writes its options, parameters and
    triggers into the job as properties at every build, and Jenkins keeps state in <actions>; sync-job replaces only
    the elements and properties it writes itself, so it neither fights the Jenkinsfile nor reports it as a change."""
    have, want = _parsed(current), _parsed(desired)
    if have.tag != want.tag:
        raise CannotRun(f"the job in Jenkins is a <{have.tag}>, not a pipeline job (<{want.tag}>): rename or delete "
                        f"it in Jenkins, or set another [jenkins] job_name")
    ours = {child.tag for child in want}
    for child in have:
        if child.tag not in ours:
            want.append(child)
    if have.find("actions") is not None:
        want.remove(want.find("actions"))
        want.insert(0, have.find("actions"))
    own_properties = {child.tag for child in want.find("properties")}
    for child in have.find("properties") if have.find("properties") is not None else ():
        if child.tag not in own_properties:
            want.find("properties").append(child)
    ET.indent(want, space="  ")
    return "<?xml version='1.0' encoding='UTF-8'?>\n" + ET.tostring(want, encoding="unicode") + "\n"


def sync_plan(current: str | None, desired: str, job_name: str) -> SyncPlan:
    """Create a missing job, leave an equal one alone, and otherwise update it, showing what changes."""
    if current is None:
        return SyncPlan("create", [], desired)
    merged = merged_job_xml(current, desired)
    old, new = normalized_job_xml(current), normalized_job_xml(merged)
    if old == new:
        return SyncPlan("unchanged", [], merged)
    diff = difflib.unified_diff(old.splitlines(), new.splitlines(), fromfile=f"{job_name} (in Jenkins)",
                                tofile=f"{job_name} (from ci.toml)", lineterm="")
    return SyncPlan("update", list(diff), merged)


def _parsed(text: str) -> ET.Element:
    try:
        return ET.fromstring(re.sub(r"^\s*<\?xml[^>]*\?>", "", text))
    except ET.ParseError as error:
        raise CannotRun(f"the job's config.xml is not XML: {error}") from None


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = text
    return element


# --- REST paths (relative to JENKINS_URL; the jobs python-jenkins has no call for) ------------------------------

def job_path(job_name: str) -> str:
    """`a/b` is job b in folder a, as in python-jenkins: job/a/job/b/."""
    return "".join(f"job/{quote(part, safe='')}/" for part in job_name.split("/"))


def build_path(job_name: str, number: int) -> str:
    return f"{job_path(job_name)}{number}/"


def progressive_text_path(job_name: str, number: int, start: int) -> str:
    return f"{build_path(job_name, number)}logText/progressiveText?start={start}"


def pending_inputs_path(job_name: str, number: int) -> str:
    # The Pipeline Stage View plugin's REST API (pipeline-rest-api): [] when nothing waits.
    return f"{build_path(job_name, number)}wfapi/pendingInputActions"


def input_submit_path(job_name: str, number: int, input_id: str, approve: bool) -> str:
    verb = "proceedEmpty" if approve else "abort"
    return f"{build_path(job_name, number)}input/{quote(input_id, safe='')}/{verb}"


def jenkins_input_id(input_id: str) -> str:
    """The id Jenkins gives an input step: the pipeline's `id:` with a first letter a-z capitalized."""
    return input_id[:1].upper() + input_id[1:] if "a" <= input_id[:1] <= "z" else input_id


# --- reading Jenkins's answers ----------------------------------------------------------------------------------

def parse_parameters(pairs: list[str] | None) -> dict[str, str]:
    parameters: dict[str, str] = {}
    for pair in pairs or []:
        name, separator, value = pair.partition("=")
        name = name.strip()
        if not separator or not name:
            raise UserError(f"--param {pair!r} must be NAME=VALUE")
        if name in parameters:
            raise UserError(f"--param {name} is given twice")
        parameters[name] = value
    return parameters


def queue_state(item: Mapping) -> QueueState:
    """A queue item (/queue/item/<id>/api/json) waits, has become a build (`executable`), or was cancelled."""
    executable = item.get("executable") or {}
    return QueueState(
        started=bool(executable), cancelled=bool(item.get("cancelled")) and not executable,
        build_number=executable.get("number"), build_url=executable.get("url", ""), why=item.get("why") or "",
    )


def console_chunk(body: bytes, headers: Mapping[str, str], start: int) -> ConsoleChunk:
    """One answer of logText/progressiveText: X-Text-Size is where the next request starts, and X-More-Data is
    sent (true) only while the build can still write to its log."""
    size = str(headers.get("X-Text-Size", "")).strip()
    next_start = int(size) if size.isdigit() else start + len(body)
    more = str(headers.get("X-More-Data", "")).strip().lower() == "true"
    return ConsoleChunk(body, max(next_start, start), more)


def build_status(build: Mapping, now_seconds: float) -> BuildStatus:
    building = bool(build.get("building"))
    if building:
        # Jenkins reports duration 0 until a build ends; its age is measured from its start.
        duration = max(0.0, now_seconds - build.get("timestamp", 0) / 1000)
    else:
        duration = build.get("duration", 0) / 1000
    return BuildStatus(int(build["number"]), build.get("url", ""), building, build.get("result"), duration)


def describe_build(status: BuildStatus) -> str:
    if status.building:
        return f"build #{status.number} building for {format_duration(status.duration_seconds)}: {status.url}"
    return f"build #{status.number} {status.result} in {format_duration(status.duration_seconds)}: {status.url}"


def format_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def exit_code_for_result(result: str | None) -> int:
    return RESULT_EXIT_CODES.get(result or "", EXIT_CANNOT_RUN)


def pending_inputs(build_number: int, actions: list[Mapping]) -> list[PendingInput]:
    return [PendingInput(build_number, action["id"], action.get("message", ""), action.get("proceedText", ""))
            for action in actions if action.get("id")]


def evidence_links(build: Mapping, prefix: str = EVIDENCE_PREFIX) -> list[str]:
    """URLs of the build's archived artifacts under reports/: the evidence bundle behind an approval, its
    summary pages first; coverage's HTML pages (hundreds of files) are reached from the report instead."""
    base = build.get("url", "")
    paths = [artifact.get("relativePath", "") for artifact in build.get("artifacts", [])]
    paths = [path for path in paths if path.startswith(prefix) and "/coverage-html/" not in path]
    paths.sort(key=lambda path: EVIDENCE_FIRST.index(path) if path in EVIDENCE_FIRST else len(EVIDENCE_FIRST))
    return [f"{base}artifact/{quote(path)}" for path in paths]


def choose_input(pending: list[PendingInput], job_name: str, build_number: int | None,
                 input_id: str | None) -> PendingInput:
    """The one input an approve or reject means; anything ambiguous is a question back to the person."""
    candidates = [item for item in pending if build_number is None or item.build_number == build_number]
    where = f"build #{build_number} of {job_name}" if build_number is not None else job_name
    if not candidates:
        raise UserError(f"nothing in {where} is waiting for input")
    if input_id is not None:
        matching = [item for item in candidates if item.input_id == input_id]
        matching = matching or [item for item in candidates if item.input_id.lower() == input_id.lower()]
        if not matching:
            raise UserError(f"{where} has no pending input {input_id!r} (pending: {_listed(candidates)})")
        candidates = matching
    if len(candidates) > 1:
        raise UserError(f"{len(candidates)} inputs are pending in {where} ({_listed(candidates)}): "
                        f"name one with --build and --input")
    return candidates[0]


def _listed(items: list[PendingInput]) -> str:
    return ", ".join(f"build #{item.build_number} input {item.input_id}" for item in items)


def error_for_failure(failure: JenkinsFailure, connection: JenkinsConnection, jenkins: JenkinsConfig) -> UserError:
    """One line a person can act on, with the exit code of ci/errors.py: 2 for who you are or what you named
    (credentials, permission, a job, build or input that does not exist), 3 when Jenkins could not be used."""
    where = f"Jenkins at {connection.url}"
    if not failure.reached:
        return CannotRun(f"{where} is unreachable: {failure.detail}")
    if failure.status == 401:
        return ConfigError(f"{where} refused the credentials: check {USER_VARIABLE} ({connection.user}) and "
                           f"{TOKEN_VARIABLE}")
    if failure.bad_crumb:
        return CannotRun(f"{where} refused its own CSRF crumb twice ({failure.action} {failure.subject}): "
                         f"{failure.detail}")
    # The input step refuses a non-submitter with a "You need to be '<submitter>' ..." failure page.
    if failure.input_id and (failure.status == 403 or "you need to be" in failure.detail.lower()):
        return UserError(f"Jenkins refused: {connection.user} is not an allowed submitter of input "
                         f"{failure.input_id} (ask one of {jenkins.release_managers})")
    if failure.status == 403:
        return ConfigError(f"Jenkins refused: {connection.user} may not {failure.action} {failure.subject} "
                           f"(HTTP 403); check the permissions of {USER_VARIABLE}")
    if failure.status == 404:
        hint = " (create it with `python -m ci jenkins sync-job`)" if failure.subject == f"job {jenkins.job_name}" \
            else ""
        return UserError(f"{where} has no {failure.subject}{hint}")
    return CannotRun(f"{where} {failure}")
