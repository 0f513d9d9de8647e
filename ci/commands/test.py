"""`ci test host|unit|integration|acceptance|all`: run test tiers; the last three inside the Compose stack.

Each compose tier gets its own project (unique per build and tier), runs pytest in the runner container,
copies reports/<tier>/ out (stamped with its run, ci/reports.py), and always tears the stack down: on success,
failure, timeout and Ctrl-C.
"""

import secrets
import shutil
import signal
import time

from ci.build_plan import MODEL, POSTGRES, RUNNER
from ci.commands.build import built_model_image
from ci.commands.outcome import Outcome
from ci.console import info, progress
from ci.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, CannotRun, CheckFailed, UserError
from ci.executor import docker_engine
from ci.executor.compose import ComposeRunner, copy_from_container
from ci.executor.process import stream
from ci.image_builder import build_images, plan_with_base
from ci.redaction import redact
from ci.reports import REPORTS_DIR, stamp_tier, write_json_report
from ci.test_plan import (HOST_TIER, TIERS, ComposeTierPlan, compose_tier_plan, host_pytest_command, read_junit,
                          tier_image_roles, tiers_for)

NAME = "test"
TEST_IMAGES_REPORT = "test-images.json"
HELP = "run a test tier (host, unit, integration, acceptance) or all; reports in reports/<tier>/"

PYTEST_NO_TESTS = 5
# The compose file names the model and PostgreSQL images even when a tier starts neither.
NO_MODEL_IMAGE = "none:unit-tier-starts-no-model"
NO_POSTGRES_IMAGE = "none:tier-starts-no-postgres"
LOG_TAIL_LINES = 25


def add_arguments(parser) -> None:
    parser.add_argument("tier", choices=(*TIERS, "all"))
    parser.add_argument("--image", help="model image under test (default: the last `ci build`, reports/build.json); "
                                        "the runner and PostgreSQL images are built from this work tree")
    parser.add_argument("--base-url", help="acceptance only: test this running release instead of the stack")
    parser.add_argument("--baseline-url", help="acceptance only: the serving release whose metrics the "
                                               "candidate must not fall below")
    parser.add_argument("--smoke", action="store_true", help="acceptance only: just the smoke checks (`-m smoke`)")
    parser.add_argument("--keep", action="store_true", help="leave the stack running for debugging")


def pytest_extra(args) -> list[str]:
    """--smoke, then whatever followed `--` on the command line (e.g. `ci test unit -- -k config`)."""
    return (["-m", "smoke"] if args.smoke else []) + list(args.passthrough)


def test_images(ctx, roles: tuple[str, ...] = (RUNNER, POSTGRES)) -> dict[str, str]:
    """Build (from cache, usually in seconds) the runner and PostgreSQL images of this work tree (or those of roles)."""
    client = docker_engine.connect()
    plan, _ = plan_with_base(ctx, client)
    built = build_images(ctx, client, plan, roles)
    write_json_report(ctx.root, TEST_IMAGES_REPORT, {"images": built, "tags": plan.tags}, ctx.report_run)
    return {role: image["reference"] for role, image in built.items()}


def run(args, ctx) -> Outcome:
    started = time.time()
    tiers = tiers_for(args.tier)
    if (args.base_url or args.baseline_url or args.smoke) and args.tier != "acceptance":
        raise UserError("--base-url, --baseline-url and --smoke apply to the acceptance tier only")
    extra = pytest_extra(args)
    images = _images_for(ctx, tiers, args.image, external=bool(args.base_url))
    results, failed = [], []
    for tier in tiers:
        progress(f"tier {tier}")
        if tier == HOST_TIER:
            result, exit_code = _run_host_tier(ctx, images[MODEL], extra)
        else:
            plan = compose_tier_plan(
                ctx.config, ctx.identity.run_id, tier, images,
                postgres_password=secrets.token_urlsafe(24), base_url=args.base_url or "",
                baseline_url=args.baseline_url or "", force_failure=bool(ctx.environ.get("FORCE_TEST_FAILURE")),
                extra=extra, report_name="smoke" if args.smoke else "",
            )
            result, exit_code = _run_compose_tier(plan, ctx, keep=args.keep)
        results.append(result)
        info(result.line())
        if exit_code != EXIT_OK:
            failed.append(tier)
    if args.tier == "all":
        left = _sweep_untagged_images(started)
        if left:
            failed.append("images")
            info(f"  {len(left)} untagged image(s) this run made are still there: {', '.join(i[7:19] for i in left)}")
    write_json_report(ctx.root, "tests.json", {"tiers": [result.__dict__ for result in results]}, ctx.report_run)
    line = "; ".join(result.line() for result in results)
    if failed:
        return Outcome(EXIT_FAILED, f"failed tier(s): {', '.join(failed)} — {line}")
    return Outcome.ok(line)


def _sweep_untagged_images(started: float) -> list[str]:
    """The whole test command leaves no untagged image it made: builds that ran beside another build (the host
    tier's scenarios build copies of the repository side by side) could not name their stage tips, and a tag moved
    off an image while another build ran leaves that image. Removed here, once no build runs; what stays (a
    container still uses it) fails the run."""
    removed, left = docker_engine.remove_untagged_made_since(docker_engine.connect(), started)
    progress(f"untagged images this run made: {removed} removed, {len(left)} left")
    return left


def _images_for(ctx, tiers: tuple[str, ...], explicit_model: str | None, external: bool) -> dict[str, str]:
    """The unit tier needs no model image (it runs before the Build stage); the other tiers test the built one."""
    images: dict[str, str] = {POSTGRES: NO_POSTGRES_IMAGE}
    roles = tier_image_roles(tiers, external)
    if roles:
        images.update(test_images(ctx, roles))
    needs_model = any(tier not in ("unit",) for tier in tiers)
    images[MODEL] = built_model_image(ctx, explicit_model) if needs_model else NO_MODEL_IMAGE
    return images


def _fresh_reports(ctx, tier: str):
    directory = ctx.root / REPORTS_DIR / tier
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return directory


def _run_host_tier(ctx, model_image: str, extra: list[str]):
    """The toolkit's own unit tests and the image checks that need the engine itself, on this machine."""
    reports = _fresh_reports(ctx, HOST_TIER)
    environ = {**ctx.environ, "MODEL_IMAGE": model_image}
    exit_code = stream(host_pytest_command(extra), print, cwd=ctx.root, env=environ)
    stamp_tier(ctx.root, HOST_TIER, HOST_TIER, ctx.report_run)
    return _interpret(HOST_TIER, exit_code, reports / "junit.xml")


def _run_compose_tier(plan: ComposeTierPlan, ctx, keep: bool):
    client = docker_engine.connect()
    images = [plan.environment["RUNNER_IMAGE"]]
    if "postgres" in plan.services:
        images.append(plan.environment["POSTGRES_IMAGE"])
    if "model" in plan.services:
        images.append(plan.environment["MODEL_IMAGE"])
    missing = [image for image in images if not docker_engine.image_present(client, image)]
    if missing:
        raise CannotRun(f"image(s) {', '.join(missing)} not present: run `python -m ci build` (or pass --image)")
    reports = _fresh_reports(ctx, plan.report_name)
    compose = ComposeRunner(ctx.root, plan.environment)
    runner_output: list[str] = []
    succeeded = False
    try:
        if plan.services:
            progress(f"starting {', '.join(plan.services)} as compose project {plan.project}")
            started = compose.capture(plan.up_command(), timeout=plan.service_timeout_seconds + 120)
            if started.returncode != 0:
                _save_logs(compose, plan, reports, runner_output)
                raise CannotRun(_unhealthy_message(compose, plan, started.stderr))
        progress(f"pytest {plan.tier} in the {plan.runner_service} container")

        def show(line: str) -> None:
            line = redact(line, plan.secrets)
            runner_output.append(line)
            print(line, flush=True)

        try:
            exit_code = compose.stream(plan.run_command(), show, timeout=plan.timeout_seconds)
        except TimeoutError:
            _save_logs(compose, plan, reports, runner_output)
            raise CheckFailed(f"tier {plan.tier} did not finish within {plan.timeout_seconds}s; "
                              f"logs in {reports.relative_to(ctx.root)}/logs/") from None
        if exit_code in (EXIT_INTERRUPTED, -signal.SIGINT):
            # Ctrl-C reached `compose run` (our process group) and ended it; ours is still on its way (another
            # thread may have taken the signal): the run was interrupted, whether or not its container existed yet.
            raise KeyboardInterrupt
        copy_from_container(client, plan.runner_container, plan.reports_in_container, ctx.root / REPORTS_DIR)
        # pytest wrote these files in the container and knows no run: the stamp beside them says which run it was.
        stamp_tier(ctx.root, plan.report_name, plan.tier, ctx.report_run)
        result = _interpret(plan.tier, exit_code, reports / "junit.xml")
        succeeded = result[1] == EXIT_OK
        return result
    finally:
        if not succeeded and not (reports / "logs").exists():
            _save_logs(compose, plan, reports, runner_output)
        if keep:
            _print_keep_hints(compose, plan)
        else:
            _tear_down(compose, client, plan)


def _interpret(tier: str, exit_code: int, junit):
    if exit_code == PYTEST_NO_TESTS:
        raise CheckFailed(f"tier {tier} ran no tests: an empty tier never counts as passing")
    if exit_code not in (0, 1) or not junit.exists():
        raise CannotRun(f"tier {tier} could not run (exit code {exit_code}, "
                        f"{'no' if not junit.exists() else 'a'} JUnit report)")
    return read_junit(tier, junit), (EXIT_OK if exit_code == 0 else EXIT_FAILED)


def _unhealthy_message(compose: ComposeRunner, plan: ComposeTierPlan, stderr: str) -> str:
    states = compose.service_states(plan.compose())
    bad = [state for state in states
           if state.get("Health") not in ("", "healthy", None) or state.get("State") != "running"]
    if not bad:
        return f"the {plan.tier} stack did not start: {redact(stderr.strip()[-500:], plan.secrets)}"
    service = bad[0].get("Service", "?")
    condition = bad[0].get("Health") or bad[0].get("State")
    tail = compose.capture(plan.logs_command(service), timeout=60).stdout.splitlines()[-LOG_TAIL_LINES:]
    log = redact("\n".join(tail), plan.secrets)
    return f"service '{service}' never became healthy ({condition}); its log ends with:\n{log}"


def _save_logs(compose: ComposeRunner, plan: ComposeTierPlan, reports, runner_output: list[str]) -> None:
    logs = reports / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for service in plan.services:
        result = compose.capture(plan.logs_command(service), timeout=60)
        (logs / f"{service}.log").write_text(redact(result.stdout + result.stderr, plan.secrets))
    (logs / "runner.log").write_text("\n".join(runner_output) + "\n")
    info(f"  service logs saved to {logs}")


def _tear_down(compose: ComposeRunner, client, plan: ComposeTierPlan) -> None:
    result = compose.capture(plan.down_command(), timeout=180)
    if result.returncode != 0:
        info(f"  warning: compose down failed: {redact(result.stderr.strip()[-300:], plan.secrets)}")
    # `compose run` containers are removed by `down`; this catches one left by an interrupted run.
    docker_engine.remove_labelled_containers(client, [f"com.docker.compose.project={plan.project}"])


def _print_keep_hints(compose: ComposeRunner, plan: ComposeTierPlan) -> None:
    info(f"stack kept: compose project {plan.project}")
    if "model" in plan.services:
        port = compose.capture(plan.compose("port", "model", "8000"), timeout=30).stdout.strip()
        if port:
            info(f"  model: http://{port}")
    info(f"  tear it down with: python -m ci cleanup --project {plan.project}")
