"""What Jenkins's JSON and headers mean for `ci jenkins`: queue items, console chunks, builds, inputs, parameters."""

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

from ci.errors import EXIT_CANNOT_RUN, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, CannotRun, UserError

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
INPUT_ACTION_CLASS = "org.jenkinsci.plugins.workflow.support.steps.input.InputAction"
PARAMETERS_PROPERTY_CLASS = "hudson.model.ParametersDefinitionProperty"
# The first pipeline-input-step release whose InputAction exports its executions (commit 987738a).
INPUT_STEP_EXPORTS_SINCE = "466.v6d0a_5df34f81"
INPUTS_UNSEEN = (f"cannot tell: pipeline-input-step older than {INPUT_STEP_EXPORTS_SINCE} shows no pending input; "
                 f"name the input with --build and --input, or update the plugin")
INPUTS_MAYBE_UNSEEN = (f"(if pipeline-input-step is older than {INPUT_STEP_EXPORTS_SINCE}, Jenkins shows no pending "
                       f"input: `python -m ci jenkins doctor` checks it)")


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
    job_label: str
    build_number: int
    input_id: str
    message: str
    proceed_text: str
    submitter: str | None


def unbuilt_tag_note(tag: str, max_age_days: int) -> str:
    """Why a tag job has no build: basic-branch-build-strategies TagBuildStrategyImpl.isAutomaticBuild skips a tag
    older than atMostMillis, and git-plugin AbstractGitSCMSource.discoverTags dates a tag by its tagged commit's
    commit time (parseCommit peels an annotated tag: the tagger date is not used)."""
    return (f"tag {tag} was not built automatically: a scan builds a tag only while its tagged commit's commit time "
            f"is at most {max_age_days} days old ([jenkins] tag_max_age_days); build it with "
            f"`python3 -m ci jenkins trigger --branch {tag}` or Build Now on its job")


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


def job_parameter_names(job: Mapping) -> list[str] | None:
    """The job's declared parameters (its ParametersDefinitionProperty), or None when it declares none: such a job
    is built with /build, and /buildWithParameters refuses it."""
    for prop in job.get("property") or []:
        if prop.get("_class") == PARAMETERS_PROPERTY_CLASS:
            return [definition.get("name", "") for definition in prop.get("parameterDefinitions") or []]
    return None


def check_parameters(given: Mapping[str, str], declared: list[str] | None, job_label: str) -> None:
    """Refuse here what Jenkins would refuse with a 500 or a 400 that names no parameter."""
    if given and declared is None:
        raise UserError(f"job {job_label} declares no parameters, so --param cannot be passed (Jenkins refuses "
                        f"buildWithParameters for it); the Jenkinsfile's `parameters {{ }}` block declares them")
    unknown = sorted(set(given) - set(declared or []))
    if unknown:
        raise UserError(f"job {job_label} has no parameter {', '.join(unknown)}; it accepts "
                        f"{', '.join(declared or [])}")


def queue_state(item: Mapping) -> QueueState:
    """A queue item (/queue/item/<id>/api/json) waits, has become a build (`executable`), or was cancelled."""
    executable = item.get("executable") or {}
    return QueueState(
        started=bool(executable), cancelled=bool(item.get("cancelled")) and not executable,
        build_number=executable.get("number"), build_url=executable.get("url", ""), why=item.get("why") or "",
    )


def queue_id_from_location(location: str) -> int:
    """Jenkins answers a build request 201 with Location: <jenkins>/queue/item/<id>/ (ParameterizedJobMixIn)."""
    tail = location.rstrip("/").rsplit("/", 1)[-1]
    if not tail.isdigit():
        raise CannotRun(f"Jenkins queued the build but its Location header is not a queue item: {location!r}")
    return int(tail)


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


def plugin_release(version: str) -> int:
    """A plugin version's release number: 466 of 466.v6d0a_5df34f81 (0 for a version without one)."""
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else 0


def input_step_shows_inputs(version: str) -> bool:
    return plugin_release(version) >= plugin_release(INPUT_STEP_EXPORTS_SINCE)


def inputs_unseen(build: Mapping) -> bool:
    """Whether a running build may wait at an input Jenkins does not show: before INPUT_STEP_EXPORTS_SINCE the
    InputAction is no @ExportedBean, which Stapler writes as {} with no _class (jenkinsci/stapler: core/src/main/
    java/org/kohsuke/stapler/export/Property.java, writeValue with skipIfFail). Every build has other unexported
    actions that look the same, so this is a doubt that only the plugin's version settles."""
    actions = build.get("actions") or []
    return bool(build.get("building")) and {} in actions and not any(
        action.get("_class") == INPUT_ACTION_CLASS for action in actions if action)


def pending_inputs(job_label: str, build: Mapping) -> list[PendingInput]:
    """The build's unsettled input steps, from its InputAction (no InputAction: nothing has ever waited, or
    inputs_unseen)."""
    pending = []
    for action in build.get("actions") or []:
        if not action or action.get("_class") != INPUT_ACTION_CLASS:
            continue
        for execution in action.get("executions") or []:
            step = execution.get("input") or {}
            if execution.get("settled") or not execution.get("id"):
                continue
            pending.append(PendingInput(job_label, int(build.get("number", 0)), execution["id"],
                                        step.get("message", ""), step.get("ok", ""), step.get("submitter")))
    return pending


def evidence_links(build: Mapping, prefix: str = EVIDENCE_PREFIX) -> list[str]:
    """URLs of the build's archived artifacts under reports/: the evidence bundle behind an approval, its
    summary pages first; coverage's HTML pages (hundreds of files) are reached from the report instead."""
    base = build.get("url", "")
    paths = [artifact.get("relativePath", "") for artifact in build.get("artifacts", [])]
    paths = [path for path in paths if path.startswith(prefix) and "/coverage-html/" not in path]
    paths.sort(key=lambda path: EVIDENCE_FIRST.index(path) if path in EVIDENCE_FIRST else len(EVIDENCE_FIRST))
    return [f"{base}artifact/{quote(path)}" for path in paths]


def choose_input(pending: list[PendingInput], where: str, build_number: int | None,
                 input_id: str | None) -> PendingInput:
    """The one input an approve or reject means; anything ambiguous is a question back to the person."""
    candidates = [item for item in pending if build_number is None or item.build_number == build_number]
    if build_number is not None:
        where = f"build #{build_number} of {where}"
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
                        f"name one with --branch, --build and --input")
    return candidates[0]


def _listed(items: list[PendingInput]) -> str:
    return ", ".join(f"{item.job_label} build #{item.build_number} input {item.input_id}" for item in items)
