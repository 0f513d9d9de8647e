"""`ci lint`: flake8 over the repository (findings also go to reports/lint/ for Jenkins' warnings-ng) and,
by default, the Jenkinsfile's offline check, so a developer sees a broken Jenkinsfile before pushing it."""

import re
import sys
from collections import Counter
from pathlib import Path

from ci.commands.outcome import Outcome
from ci.console import progress
from ci.errors import CannotRun
from ci.executor.groovy import run_groovy
from ci.executor.process import capture
from ci.reports import report_path, write_json_report

NAME = "lint"
HELP = "run flake8 (reports/lint/flake8.txt for warnings-ng, summary.json) and check the Jenkinsfile's structure"
JENKINSFILE_CHECK = Path("ci") / "jenkinsfile" / "structure.groovy"

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
    if result.stdout:
        print(result.stdout, end="")
    jenkinsfile_problems = [] if args.paths else _check_jenkinsfile(ctx.root, ctx.config.jenkins.jenkinsfile)
    summary["jenkinsfile_problems"] = jenkinsfile_problems
    write_json_report(ctx.root, "lint/summary.json", summary, ctx.report_run)
    count = summary["findings"]
    where = Path(report).relative_to(ctx.root)
    failures = []
    if count:
        failures.append(f"{count} flake8 finding(s) in {len(summary['by_file'])} file(s); see {where}")
    if jenkinsfile_problems:
        failures.append(f"{ctx.config.jenkins.jenkinsfile}: {jenkinsfile_problems[0]}"
                        + (f" (and {len(jenkinsfile_problems) - 1} more)" if len(jenkinsfile_problems) > 1 else ""))
    if failures:
        return Outcome.failed("; ".join(failures))
    checked = f" and {ctx.config.jenkins.jenkinsfile}" if not args.paths else ""
    return Outcome.ok(f"flake8 clean over {', '.join(paths)}{checked}")


def _check_jenkinsfile(root: Path, jenkinsfile: str) -> list[str]:
    """Groovy syntax and declarative structure, offline (ci/jenkinsfile/structure.groovy); problems with lines."""
    progress(f"checking {jenkinsfile} (Groovy syntax, declarative structure)")
    result = run_groovy(root / JENKINSFILE_CHECK, jenkinsfile, cwd=root)
    if result.returncode == 0:
        return []
    problems = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    for line in problems:
        print(line)
    return problems or [f"the check exited {result.returncode} without saying why"]
