"""`ci lint`: flake8 over the repository; findings also go to reports/lint/ for Jenkins' warnings-ng."""

import re
import sys
from collections import Counter
from pathlib import Path

from ci.commands.outcome import Outcome
from ci.console import progress
from ci.errors import CannotRun
from ci.executor.process import capture
from ci.reports import report_path, write_json_report

NAME = "lint"
HELP = "run flake8; writes reports/lint/flake8.txt (warnings-ng 'flake8' parser) and summary.json"

LINTED_PATHS = ("ci", "model_app", "tests", "benchmarks")
FINDING = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+):(?P<column>\d+): (?P<code>[A-Z]+\d+) (?P<text>.*)$")


def add_arguments(parser) -> None:
    parser.add_argument("paths", nargs="*", help=f"what to lint (default: {' '.join(LINTED_PATHS)})")


def flake8_command(paths: list[str]) -> list[str]:
    return [sys.executable, "-m", "flake8", "--format=default", *paths]


def summarize(output: str) -> dict:
    findings = [match.groupdict() for match in map(FINDING.match, output.splitlines()) if match]
    return {
        "findings": len(findings),
        "by_code": dict(Counter(item["code"] for item in findings)),
        "by_file": dict(Counter(item["path"] for item in findings)),
    }


def run(args, ctx) -> Outcome:
    paths = args.paths or [path for path in LINTED_PATHS if (ctx.root / path).exists()]
    progress(f"flake8 {' '.join(paths)}")
    result = capture(flake8_command(paths), cwd=ctx.root, timeout=600)
    if result.returncode not in (0, 1):
        last_line = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "no output"
        raise CannotRun(f"flake8 could not run: {last_line}")
    report = report_path(ctx.root, "lint/flake8.txt")
    report.write_text(result.stdout)
    summary = summarize(result.stdout)
    summary["paths"] = paths
    write_json_report(ctx.root, "lint/summary.json", summary)
    if result.stdout:
        print(result.stdout, end="")
    count = summary["findings"]
    where = Path(report).relative_to(ctx.root)
    if count:
        return Outcome.failed(f"{count} flake8 finding(s) in {len(summary['by_file'])} file(s); see {where}")
    return Outcome.ok(f"flake8 clean over {', '.join(paths)}")
