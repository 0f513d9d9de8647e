"""`ci pipeline`: run the Jenkinsfile's stages in its order, each command as its own `python -m ci` process.

Locally the deploy goes to the local target host and the push to a local registry (ci.toml's embedded
defaults); `--env` names other environments. Every stage's output lands in reports/pipeline/<stage>.log,
the run in reports/pipeline.json, and the release manager's view in reports/pipeline.html. The whole pipeline
begins a new run (reports/ emptied, reports/run.json); --from/--only/--skip/--until continue the recorded one.
"""

import shutil
import sys
from datetime import datetime, timezone

from ci.commands import new_run
from ci.commands.approve import APPROVAL_REPORT
from ci.commands.outcome import Outcome
from ci.console import Stopwatch, info
from ci.errors import EXIT_INTERRUPTED, EXIT_OK, UserError
from ci.executor.stage_process import run_attached, run_logged
from ci.pipeline_display import StageBoard, summary_table
from ci.pipeline_plan import LOCAL_TARGETS, DeployTarget, Stage, pipeline_stages, select_stages
from ci.reports import REPORTS_DIR, RUN_ID_VARIABLE, read_json_report, write_json_report

NAME = "pipeline"
HELP = "run the whole pipeline locally, in the Jenkinsfile's stages: setup … push, approve, deploy"
LOG_DIR = f"{REPORTS_DIR}/pipeline"
FAILED_LOG_TAIL = 25


def add_arguments(parser) -> None:
    parser.add_argument("--yes", action="store_true", help="approve without asking (required where no one can answer)")
    parser.add_argument("--only", action="append", default=[], metavar="STAGE", help="run only this stage (repeatable)")
    parser.add_argument("--from", dest="start", metavar="STAGE", help="start at this stage")
    parser.add_argument("--until", metavar="STAGE", help="stop after this stage")
    parser.add_argument("--skip", action="append", default=[], metavar="STAGE", help="skip this stage (repeatable)")
    parser.add_argument("--env", action="append", default=[], metavar="ENV",
                        help="deploy to this ci.toml environment instead of the local target host (repeatable)")
    parser.add_argument("--dry-run", action="store_true", help="print the stages and their commands; run nothing")


def run(args, ctx) -> Outcome:
    targets = tuple(DeployTarget(name) for name in args.env) or LOCAL_TARGETS
    stages = pipeline_stages(targets)
    try:
        selection = select_stages(stages, args.only, args.start, args.until, args.skip)
    except ValueError as error:
        raise UserError(str(error)) from None
    if args.dry_run:
        for stage, selected in selection:
            info(f"{'run ' if selected else 'skip'}  {stage.name:<12} {stage.shown()}")
        return Outcome.ok(f"dry run: {sum(selected for _, selected in selection)} of {len(stages)} stages would run")
    approving = any(stage.approval and selected for stage, selected in selection)
    if approving and not args.yes and (ctx.in_ci or not sys.stdin.isatty()):
        raise UserError("the Approve stage needs a person at a terminal: pass --yes to approve non-interactively "
                        "(CI=true or no TTY here), or --skip Approve --skip Deploy")
    # The whole pipeline is a new run (like `ci new-run`); a part of it continues the run reports/ holds.
    partial = args.only or args.start or args.until or args.skip
    run = ctx.report_run if partial else new_run.start(ctx)
    ctx.environ[RUN_ID_VARIABLE] = run
    return _run_stages(selection, args, ctx)


def _run_stages(selection: list[tuple[Stage, bool]], args, ctx) -> Outcome:
    log_dir = ctx.root / LOG_DIR
    shutil.rmtree(log_dir, ignore_errors=True)
    log_dir.mkdir(parents=True)
    rows = [{"stage": stage.name, "status": "waiting" if selected else "skipped", "exit_code": None,
             "seconds": None, "log": None, "commands": [" ".join(command) for command in stage.commands]}
            for stage, selected in selection]
    board = StageBoard(rows)
    environ = {**ctx.environ, "PYTHONUNBUFFERED": "1"}
    started_at = datetime.now(timezone.utc)
    failed: dict | None = None
    try:
        for (stage, selected), row in zip(selection, rows):
            if not selected:
                continue
            if failed:
                row["status"] = "not run"
                continue
            exit_code = _run_stage(stage, row, board, args, ctx, environ)
            if stage.approval and exit_code == EXIT_OK:
                approval = read_json_report(ctx.root, APPROVAL_REPORT) or {}
                environ["APPROVED_BY"] = approval.get("approved_by", "")
            if exit_code != EXIT_OK:
                failed = row
    except KeyboardInterrupt:
        for row in rows:
            if row["status"] in ("running", "waiting"):
                row["status"] = "interrupted" if row["status"] == "running" else "not run"
        _finish(rows, started_at, "interrupted", ctx)
        raise
    result = "failed" if failed else "passed"
    deploy_passed = any(row["stage"] == "Deploy" and row["status"] == "passed" for row in rows)
    deployed = _deployed_url(ctx) if deploy_passed else None
    _finish(rows, started_at, result, ctx, url=deployed)
    if failed:
        # The approval stage wrote to the terminal itself; every other stage's output is in its log.
        log = failed["log"] or f"{REPORTS_DIR}/evidence.md"
        if failed["log"]:
            _show_log_tail(ctx.root / failed["log"])
        return Outcome(failed["exit_code"], f"stage {failed['stage']} failed (exit {failed['exit_code']}); "
                                            f"its log: {log}; report: {REPORTS_DIR}/pipeline.html")
    ran = [row for row in rows if row["status"] == "passed"]
    total = sum(row["seconds"] for row in ran)
    if deployed:
        print(f"The model answers at {deployed}  (try: curl {deployed}/ready; stop everything with "
              f"`python -m ci down`)", flush=True)
    return Outcome.ok(f"{len(ran)} stage(s) passed in {total:.0f}s; report: {REPORTS_DIR}/pipeline.html"
                      + (f"; the model answers at {deployed}" if deployed else ""))


def _run_stage(stage: Stage, row: dict, board: StageBoard, args, ctx, environ: dict) -> int:
    log_name = None if stage.approval else f"{LOG_DIR}/{stage.name.lower()}.log"
    row.update(status="running", log=log_name)
    watch = Stopwatch()
    board.start(row, stage.shown())
    exit_code = EXIT_OK
    try:
        for command in stage.commands:
            argv = [sys.executable, "-m", "ci", *command]
            if stage.approval:
                # The release manager's stage talks to the person at the terminal directly.
                board.hand_over_terminal()
                exit_code = run_attached([*argv, *(["--yes"] if args.yes else [])], ctx.root, environ)
            else:
                exit_code = run_logged(argv, ctx.root / log_name, ctx.root, environ, board.line,
                                       lambda: board.tick(watch.seconds))
            if exit_code != EXIT_OK:
                break
    except KeyboardInterrupt:
        row["seconds"] = round(watch.seconds, 1)
        raise
    if exit_code == EXIT_INTERRUPTED:
        row["seconds"] = round(watch.seconds, 1)
        raise KeyboardInterrupt
    row.update(status="passed" if exit_code == EXIT_OK else "failed", exit_code=exit_code,
               seconds=round(watch.seconds, 1))
    board.end(row)
    return exit_code


def _finish(rows: list[dict], started_at: datetime, result: str, ctx, url: str | None = None) -> None:
    write_json_report(ctx.root, "pipeline.json", {
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "result": result, "stages": rows, "url": url,
    }, ctx.report_run)
    # The report is the release manager's view of any run, failed ones included.
    report_code = run_logged([sys.executable, "-m", "ci", "report"], ctx.root / LOG_DIR / "report.log", ctx.root,
                             {**ctx.environ}, lambda line: None, lambda: None)
    if report_code != EXIT_OK:
        info(f"the HTML report could not be written (exit {report_code}); see {LOG_DIR}/report.log")
    for line in summary_table(rows):
        info(line)


def _deployed_url(ctx) -> str | None:
    deployed = read_json_report(ctx.root, "deploy.json") or {}
    urls = [host["public_url"] for host in deployed.get("hosts", []) if host.get("result") == "success"]
    return urls[0] if urls else None


def _show_log_tail(log_path) -> None:
    if not log_path.exists():
        return
    tail = log_path.read_text(errors="replace").splitlines()[-FAILED_LOG_TAIL:]
    info(f"── last {len(tail)} lines of {log_path} ──")
    for line in tail:
        info(f"  {line}")
