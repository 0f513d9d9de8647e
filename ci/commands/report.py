"""`ci report`: reports/pipeline.html, the whole pipeline on one self-contained page for the release manager."""

from datetime import datetime, timezone
from pathlib import Path

from ci.commands.outcome import Outcome
from ci.reports import read_json_report, report_path
from ci.test_results import coverage_xml_by_tier, tier_results

NAME = "report"
HELP = "write reports/pipeline.html: stages, model quality, latency, tests, release and deploy on one page"
PAGE = "pipeline.html"


def add_arguments(parser) -> None:
    """No options: the page shows whatever reports/ holds."""


def load_report_data(root: Path, project: str):
    # Imported here: the page builder draws with matplotlib, which every other command would pay for at start.
    from ci.pipeline_report import ReportData
    return ReportData(
        project=project,
        generated_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        pipeline=read_json_report(root, "pipeline.json"),
        evidence=read_json_report(root, "evidence.json"),
        build=read_json_report(root, "build.json"),
        deploy=read_json_report(root, "deploy.json"),
        gates=read_json_report(root, "acceptance/gates.json"),
        tests=tier_results(root),
        lint=read_json_report(root, "lint/summary.json"),
        coverage_xml=coverage_xml_by_tier(root),
    )


def run(args, ctx) -> Outcome:
    from ci.pipeline_report import build_pipeline_report, overall_result
    data = load_report_data(ctx.root, ctx.config.project.name)
    page = build_pipeline_report(data)
    path = report_path(ctx.root, PAGE)
    path.write_text(page)
    return Outcome.ok(f"wrote {path.relative_to(ctx.root)} ({len(page) // 1024} KB); "
                      f"pipeline result: {overall_result(data.pipeline)}")
