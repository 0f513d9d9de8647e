"""`ci evidence`: write the release manager's evidence bundle (reports/evidence.json and evidence.md).

Jenkins archives it before its approval input; `ci approve` shows it locally. Each `--env` adds the
comparison of the candidate model with the model that environment serves now.
"""

import json

import requests

from ci import evidence
from ci.commands.build import BUILD_REPORT
from ci.commands.outcome import Outcome
from ci.console import progress
from ci.errors import CannotRun
from ci.executor import docker_engine
from ci.model_labels import METADATA_PATH_IN_IMAGE
from ci.reports import REPORTS_DIR, read_json_report, report_path, run_of, stale_reports, write_json_report
from ci.test_results import coverage_percent, coverage_xml_by_tier, tier_results, tier_runs

NAME = "evidence"
HELP = "write the evidence bundle for approval: tests, coverage, lint, gates, digest, model vs the serving one"
EVIDENCE_JSON = "evidence.json"
EVIDENCE_TEXT = "evidence.md"
LINT_SUMMARY = "lint/summary.json"


def add_arguments(parser) -> None:
    parser.add_argument("--env", action="append", default=[], metavar="ENV",
                        help="compare with the model this environment serves (repeatable; unconfigured ones noted)")


def run(args, ctx) -> Outcome:
    build_report = read_json_report(ctx.root, BUILD_REPORT)
    if not build_report:
        raise CannotRun("reports/build.json is missing: run `python -m ci build` (and `ci push`) first")
    client = docker_engine.connect()
    image_id = build_report["images"]["model"]["image_id"]
    candidate_metadata = json.loads(docker_engine.read_file_from_image(client, image_id, METADATA_PATH_IN_IMAGE))
    lint = read_json_report(ctx.root, LINT_SUMMARY)
    # Each file used, by the run it records (a tier's stamp speaks for its JUnit, coverage and gates).
    runs = {BUILD_REPORT: run_of(build_report), **({LINT_SUMMARY: run_of(lint)} if lint else {}),
            **tier_runs(ctx.root)}
    bundle = {
        "run": ctx.report_run,
        "stale": stale_reports(runs, ctx.report_run),
        "candidate": evidence.candidate_summary(build_report, candidate_metadata),
        "tests": tier_results(ctx.root),
        "coverage": {tier: coverage_percent(xml) for tier, xml in coverage_xml_by_tier(ctx.root).items()},
        "lint": lint or {},
        "gates": read_json_report(ctx.root, "acceptance/gates.json"),
        "comparisons": [_compare(ctx, name, candidate_metadata) for name in args.env],
    }
    bundle["blockers"] = evidence.approval_blockers(bundle)
    write_json_report(ctx.root, EVIDENCE_JSON, bundle, ctx.report_run)
    report_path(ctx.root, EVIDENCE_TEXT).write_text("\n".join(evidence.evidence_text(bundle)) + "\n")
    blockers = bundle["blockers"]
    return Outcome.ok(f"{REPORTS_DIR}/{EVIDENCE_TEXT}: model {bundle['candidate']['model_version']}, "
                      + (f"{len(blockers)} blocker(s): {'; '.join(blockers)}" if blockers else "nothing blocks it"))


def _compare(ctx, name: str, candidate_metadata: dict) -> dict:
    environment = ctx.config.environments.get(name)
    if environment is None:
        return evidence.comparison(name, None, candidate_metadata, None,
                                   f"environment {name} is not configured (ci.toml [environments.{name}])")
    url = environment.public_urls[0] if environment.public_urls else None
    if not url:
        return evidence.comparison(name, None, candidate_metadata, None, f"environments.{name} has no public_urls")
    progress(f"reading the model {name} serves at {url}/metadata")
    try:
        response = requests.get(f"{url}/metadata", timeout=5)
        response.raise_for_status()
        return evidence.comparison(name, url, candidate_metadata, response.json())
    except requests.ConnectionError:
        return evidence.comparison(name, url, candidate_metadata, None, f"nothing answers at {url}: first release "
                                                                        f"there, or its service is down")
    except (requests.RequestException, ValueError) as error:
        return evidence.comparison(name, url, candidate_metadata, None, f"{url}/metadata failed: {error}")
