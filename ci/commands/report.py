"""`ci report`: reports/pipeline.html, the whole pipeline on one self-contained page for the release manager."""

from datetime import datetime, timezone
from pathlib import Path

from ci.commands.outcome import Outcome
from ci.pipeline_report import ReportData, build_pipeline_report, overall_result
from ci.reports import REPORTS_DIR, read_json_report, report_path
from ci.test_plan import TIERS, read_junit

NAME = "report"
HELP = "write reports/pipeline.html: stages, model quality, latency, tests, release and deploy on one page"
PAGE = "pipeline.html"


def add_arguments(parser) -> None:
    """No options: the page shows whatever reports/ holds."""


def load_report_data(root: Path, project: str) -> ReportData:
    reports = root / REPORTS_DIR
    tests = (read_json_report(root, "tests.json") or {}).get("tiers", [])
    # tests.json holds only the tiers of the last `ci test` run (one per pipeline stage): JUnit files add the rest.
    recorded = {row.get("tier") for row in tests}
    tests += [read_junit(tier, reports / tier / "junit.xml").__dict__ for tier in TIERS
              if tier not in recorded and (reports / tier / "junit.xml").exists()]
    return ReportData(
        project=project,
        generated_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        pipeline=read_json_report(root, "pipeline.json"),
        evidence=read_json_report(root, "evidence.json"),
        build=read_json_report(root, "build.json"),
        deploy=read_json_report(root, "deploy.json"),
        gates=read_json_report(root, "acceptance/gates.json"),
        tests=tests,
        lint=read_json_report(root, "lint/summary.json"),
        coverage_xml={tier: (reports / tier / "coverage.xml").read_text() for tier in TIERS
                      if (reports / tier / "coverage.xml").exists()},
    )


def run(args, ctx) -> Outcome:
    data = load_report_data(ctx.root, ctx.config.project.name)
    page = build_pipeline_report(data)
    path = report_path(ctx.root, PAGE)
    path.write_text(page)
    return Outcome.ok(f"wrote {path.relative_to(ctx.root)} ({len(page) // 1024} KB); "
                      f"pipeline result: {overall_result(data.pipeline)}")
