"""`ci test unit|integration|all`: run a test tier with pytest, JUnit and coverage reports in reports/<tier>/."""

import os

from ci.commands.outcome import Outcome
from ci.commands.up import image_under_test
from ci.console import info, progress
from ci.errors import EXIT_FAILED, EXIT_OK, CannotRun, CheckFailed
from ci.executor.process import stream
from ci.reports import REPORTS_DIR, write_json_report
from ci.test_plan import TIERS, pytest_command, read_junit, tiers_for

NAME = "test"
HELP = "run a test tier (unit, integration) or all of them; reports in reports/<tier>/"

PYTEST_NO_TESTS = 5


def add_arguments(parser) -> None:
    parser.add_argument("tier", choices=(*TIERS, "all"))
    parser.add_argument("--image", help="image under test for the integration tier (default: the last `ci build`)")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments, after --")


def run(args, ctx) -> Outcome:
    tiers = tiers_for(args.tier)
    environ = dict(os.environ)
    if "integration" in tiers:
        environ["MODEL_IMAGE"] = image_under_test(ctx, args.image)
    results, failures = [], []
    for tier in tiers:
        progress(f"tier {tier}")
        result, exit_code = _run_tier(tier, ctx, environ, args.pytest_args)
        results.append(result)
        info(result.line())
        if exit_code != EXIT_OK:
            failures.append(tier)
    write_json_report(ctx.root, "tests.json", {"tiers": [result.__dict__ for result in results]})
    line = "; ".join(result.line() for result in results)
    if failures:
        return Outcome(EXIT_FAILED, f"failed tier(s): {', '.join(failures)} — {line}")
    return Outcome.ok(line)


def _run_tier(tier: str, ctx, environ: dict, extra: list[str]):
    reports = ctx.root / REPORTS_DIR
    (reports / tier).mkdir(parents=True, exist_ok=True)
    exit_code = stream(pytest_command(tier, reports.relative_to(ctx.root), extra), print, cwd=ctx.root, env=environ)
    junit = reports / tier / "junit.xml"
    if exit_code == PYTEST_NO_TESTS:
        raise CheckFailed(f"tier {tier} ran no tests: an empty tier never counts as passing")
    if exit_code not in (0, 1) or not junit.exists():
        raise CannotRun(f"tier {tier} could not run (pytest exit code {exit_code})")
    result = read_junit(tier, junit)
    return result, (EXIT_OK if exit_code == 0 else EXIT_FAILED)
