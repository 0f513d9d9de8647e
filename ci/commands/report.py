"""`ci report`: reports/pipeline.html, the whole pipeline on one self-contained page for the release manager."""

from datetime import datetime, timezone
from pathlib import Path

from ci.commands.outcome import Outcome
from ci.reports import read_json_report, report_path, run_of, stale_reports
from ci.test_results import coverage_xml_by_tier, tier_results, tier_runs

# The JSON reports the page shows, by their path under reports/.
SHOWN_REPORTS = {"pipeline": "pipeline.json", "evidence": "evidence.json", "build": "build.json",
                 "deploy": "deploy.json", "lint": "lint/summary.json"}

NAME = "report"
HELP = "write reports/pipeline.html: stages, model quality, latency, tests, release and deploy on one page"
PAGE = "pipeline.html"


def add_arguments(parser) -> None:
    """No options: the page shows whatever reports/ holds, and flags each file another run left there."""


def load_report_data(root: Path, project: str, run: str):
    # Imported here: the page builder draws with matplotlib, which every other command would pay for at start.
    from ci.pipeline_report import ReportData
    loaded = {name: read_json_report(root, relative) for name, relative in SHOWN_REPORTS.items()}
    # Each file shown, by the run it records (a tier's stamp speaks for its JUnit, coverage and gates).
    runs = {SHOWN_REPORTS[name]: run_of(report) for name, report in loaded.items() if report is not None}
    return ReportData(
        project=project,
        generated_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        gates=read_json_report(root, "acceptance/gates.json"),
        tests=tier_results(root),
        coverage_xml=coverage_xml_by_tier(root),
        run=run,
        stale=stale_reports({**runs, **tier_runs(root)}, run),
        **loaded,
    )


def run(args, ctx) -> Outcome:
    from ci.pipeline_report import build_pipeline_report, overall_result
    data = load_report_data(ctx.root, ctx.config.project.name, ctx.report_run)
    page = build_pipeline_report(data)
    path = report_path(ctx.root, PAGE)
    path.write_text(page)
    return Outcome.ok(f"wrote {path.relative_to(ctx.root)} ({len(page) // 1024} KB); "
                      f"pipeline result: {overall_result(data.pipeline)}")
