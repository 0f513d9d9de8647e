"""`ci jenkins doctor` (an action of ci/commands/jenkins.py): read what doctor checks, print one line per check."""

from ci.commands.outcome import Outcome
from ci.config import JenkinsConfig
from ci.console import info
from ci.executor.jenkins import JenkinsSession
from ci.jenkins.doctor import (GLOBAL_ENV_SCRIPT, PROBE_REPOSITORY, Facts, ScriptFailed, agent_labels, checks,
                               credentials_script, kinds_of_type_name, script_result)
from ci.jenkins.failures import JenkinsFailure
from ci.jenkins.paths import COMPUTERS_PATH, PLUGINS_PATH, JobRef, credentials_path, label_path, project_job
from ci.jenkins.webhook import TOKEN_VARIABLE


def run(ctx, jenkins: JenkinsConfig, session: JenkinsSession, version: str) -> Outcome:
    facts = Facts(version, (ctx.root / jenkins.jenkinsfile).read_text())
    project = project_job(jenkins)
    facts.plugins = _read(facts, "plugins", lambda: {
        plugin["shortName"]: (plugin.get("version", ""), bool(plugin.get("active")))
        for plugin in session.get_json("read", "the plugins", PLUGINS_PATH).get("plugins", [])})
    facts.job_config = _read(facts, "job", lambda: _job_config(session, project))
    _read_credentials(facts, session, project)
    facts.computers = _read(facts, "agent", lambda: session.get_json("read", "the agents", COMPUTERS_PATH)
                            .get("computer", []))
    facts.label_clouds = _read(facts, "agent", lambda: {
        label: [cloud.get("_class", "") for cloud in session.get_json("read", f"label {label}", label_path(label))
                .get("clouds") or []] for label in agent_labels(facts.jenkinsfile)})
    facts.global_env = _read(facts, "global_env", lambda: script_result(session.script_text(GLOBAL_ENV_SCRIPT)))
    token = ctx.environ.get(TOKEN_VARIABLE, "").strip() or None
    facts.webhook_token_given = token is not None
    facts.webhook_status = _read(facts, "webhook", lambda: session.notify_commit(PROBE_REPOSITORY, token)
                                 .status_code)
    results = checks(facts, jenkins)
    for check in results:
        info(check.line())
    failed = [check.name for check in results if not check.passed]
    if failed:
        return Outcome.failed(f"{len(failed)} of {len(results)} checks failed: {', '.join(failed)}")
    return Outcome.ok(f"all {len(results)} checks passed: {jenkins.job_name} can build on this Jenkins")


def _job_config(session: JenkinsSession, project: JobRef) -> str:
    config = session.job_config(project)
    if config is None:
        raise JenkinsFailure("read", f"job {project.label}", 404, f"no job {project.label}")
    return config


def _read_credentials(facts: Facts, session: JenkinsSession, project: JobRef) -> None:
    """The credentials a job of the project can use, looked up in its context by an administrator's script; for a
    user who may not run scripts, what the stores' REST pages show (scope not checked)."""
    try:
        found = script_result(session.script_text(credentials_script(project.label)))
    except ScriptFailed as failed:
        facts.script_failures["credentials"] = str(failed)
        return
    except JenkinsFailure as failure:
        if failure.status in (401, 403):
            facts.credentials = _read(facts, "credentials", lambda: _credential_kinds(session, project))
        else:
            _unreadable(facts, "credentials", failure)
        return
    facts.credentials = {identifier: (found_kind.get("type", ""), set(found_kind.get("kinds") or []))
                         for identifier, found_kind in (found.get("usable") or {}).items()}
    facts.credential_system_ids = set(found.get("system") or [])
    facts.credential_scope_checked = True


def _credential_kinds(session: JenkinsSession, project: JobRef) -> dict:
    """id -> (typeName, its kinds if a standard one, else None) in the stores a job of the project can use: the
    root's (system) and those of the project and each folder above it; each credentials page shows only its own
    item's stores (ViewCredentialsAction.getStoreActions)."""
    owners = [JobRef(project.names[:depth], "") for depth in range(len(project.names) + 1)]
    ids: dict = {}
    for owner in owners:
        try:
            page = session.get_json("read", "the credentials", credentials_path(owner))
        except JenkinsFailure as failure:
            if failure.status == 404 and owner.names:
                continue  # no such job yet: the job check says so
            raise
        for store in (page.get("stores") or {}).values():
            for domain in (store.get("domains") or {}).values():
                ids.update({credential.get("id", ""): (credential.get("typeName", ""), kinds_of_type_name(
                    credential.get("typeName", ""))) for credential in domain.get("credentials") or []})
    return ids


def _read(facts: Facts, name: str, read):
    try:
        return read()
    except ScriptFailed as failed:
        facts.script_failures[name] = str(failed)
        return None
    except JenkinsFailure as failure:
        _unreadable(facts, name, failure)
        return None


def _unreadable(facts: Facts, name: str, failure: JenkinsFailure) -> None:
    if failure.status in (401, 403):
        facts.unreadable[name] = f"Jenkins refused {failure.subject} (HTTP {failure.status})"
    elif failure.status == 404:
        facts.unreadable[name] = failure.detail if name == "job" else f"Jenkins has no page for {failure.subject}"
    else:
        facts.unreadable[name] = str(failure)
