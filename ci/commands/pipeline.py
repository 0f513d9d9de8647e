"""`ci pipeline`: run every stage in the Jenkinsfile's order, each as its own `python -m ci` process."""

import sys

from ci.commands.outcome import Outcome
from ci.console import Stopwatch, info
from ci.errors import EXIT_INTERRUPTED, EXIT_OK
from ci.executor.process import stream
from ci.pipeline_plan import STAGES
from ci.reports import read_json_report, write_json_report

NAME = "pipeline"
HELP = "run the whole pipeline locally: setup, lint, tests, build, deploy to a local target host"


def add_arguments(parser) -> None:
    parser.add_argument("--yes", action="store_true", help="approve without asking (needed where no one can answer)")


def run(args, ctx) -> Outcome:
    rows = []
    for stage in STAGES:
        info(f"━━ {stage.name}: python -m ci {' '.join(stage.argv)}")
        watch = Stopwatch()
        exit_code = stream([sys.executable, "-m", "ci", *stage.argv], print, cwd=ctx.root)
        rows.append({"stage": stage.name, "exit_code": exit_code, "seconds": round(watch.seconds, 1)})
        if exit_code == EXIT_INTERRUPTED:
            raise KeyboardInterrupt
        if exit_code != EXIT_OK:
            break
    write_json_report(ctx.root, "pipeline.json", {"stages": rows})
    _print_table(rows)
    failed = [row for row in rows if row["exit_code"] != EXIT_OK]
    if failed:
        return Outcome(failed[0]["exit_code"], f"stage {failed[0]['stage']} failed (exit {failed[0]['exit_code']})")
    deployed = read_json_report(ctx.root, "deploy.json") or {}
    urls = [host["public_url"] for host in deployed.get("hosts", [])]
    if urls:
        print(f"The model answers at {urls[0]}  (try: curl {urls[0]}/ready; stop everything with `python -m ci down`)")
    return Outcome.ok(f"{len(rows)} stages passed in {sum(row['seconds'] for row in rows):.0f}s"
                      + (f"; the model answers at {urls[0]}" if urls else ""))


def _print_table(rows: list[dict]) -> None:
    info(f"{'stage':<14}{'result':<8}{'seconds':>8}")
    for row in rows:
        result = "ok" if row["exit_code"] == EXIT_OK else f"exit {row['exit_code']}"
        info(f"{row['stage']:<14}{result:<8}{row['seconds']:>8.1f}")
