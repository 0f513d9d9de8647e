"""`ci push`: push every tag of the built model image, verify the digest, and record it for deploy-by-digest."""

import time

from ci.commands.build import BUILD_REPORT
from ci.commands.outcome import Outcome
from ci.console import progress
from ci.errors import CannotRun, CheckFailed, ConfigError
from ci.executor import docker_engine
from ci.local_registry import ensure_local_registry
from ci.push_plan import PASSWORD_VARIABLE, USERNAME_VARIABLE, backoff_delays, credentials_from, is_transient, \
    push_plan_for
from ci.redaction import redact
from ci.reports import read_json_report, write_json_report

NAME = "push"
HELP = "push the built image's tags to the registry (retries, digest read-back); records the digest"


def add_arguments(parser) -> None:
    pass


def run(args, ctx) -> Outcome:
    report = read_json_report(ctx.root, BUILD_REPORT)
    if not report:
        raise CannotRun("reports/build.json is missing: run `python -m ci build` first")
    plan = push_plan_for(ctx.config, report)
    credentials = credentials_from(ctx.environ)
    secrets = (credentials["password"],) if credentials else ()
    client = docker_engine.connect()
    if ctx.config.registry.local:
        ensure_local_registry(ctx.root, ctx.config.registry)
    if not docker_engine.image_present(client, plan.source_image):
        raise CannotRun(f"image {plan.source_image} is not present: run `python -m ci build`")
    if credentials:
        _log_in(client, plan.registry, credentials, secrets)
    docker_engine.tag_image(client, client.images.get(plan.source_image).id, plan.target_repository, plan.tags)

    digests = {tag: _push_with_retries(client, plan, tag, credentials, secrets) for tag in plan.tags}
    if len(set(digests.values())) != 1:
        raise CheckFailed(f"the tags were pushed with different digests: {digests}")
    digest = next(iter(digests.values()))
    for reference in plan.target_references():
        served = docker_engine.registry_digest(client, reference, credentials)
        if served != digest:
            raise CheckFailed(f"{reference} reads back as {served}, but {digest} was pushed")
    report["push"] = {
        "registry": plan.registry, "repository": plan.target_repository, "tags": plan.tags,
        "references": plan.target_references(), "digest": digest, "image_by_digest": plan.by_digest(digest),
    }
    write_json_report(ctx.root, BUILD_REPORT, report, ctx.report_run)
    return Outcome.ok(f"pushed {len(plan.tags)} tag(s) to {plan.target_repository}; digest {digest} "
                      f"verified on read-back")


def _log_in(client, registry: str, credentials: dict, secrets: tuple) -> None:
    try:
        docker_engine.login(client, registry, credentials)
    except docker_engine.RegistryError as error:
        message = redact(str(error), secrets)
        if is_transient(message):
            raise CannotRun(f"registry {registry} is unreachable: {message}") from None
        raise ConfigError(f"registry {registry} refused the credentials in {USERNAME_VARIABLE}/"
                          f"{PASSWORD_VARIABLE}: {message}") from None


def _push_with_retries(client, plan, tag: str, credentials, secrets: tuple) -> str:
    waits = [*backoff_delays(plan.attempts, plan.backoff_seconds), None]
    for attempt, wait in enumerate(waits, start=1):
        suffix = f" (attempt {attempt}/{plan.attempts})" if attempt > 1 else ""
        progress(f"pushing {plan.target_repository}:{tag}{suffix}")
        try:
            return docker_engine.push_tag(client, plan.target_repository, tag, credentials)
        except docker_engine.RegistryError as error:
            message = redact(str(error), secrets)
        lowered = message.lower()
        if "unauthorized" in lowered or "denied" in lowered:
            raise ConfigError(f"registry {plan.registry} denied the push ({message}); set "
                              f"{USERNAME_VARIABLE}/{PASSWORD_VARIABLE} to an account allowed to push")
        if not is_transient(message):
            raise CannotRun(f"push of {plan.target_repository}:{tag} failed: {message}")
        if wait is None:
            raise CannotRun(f"push to {plan.registry} failed after {plan.attempts} attempts: {message}")
        progress(f"transient registry error ({message}); retrying in {wait:.1f}s")
        time.sleep(wait)
