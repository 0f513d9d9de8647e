"""`ci releases --env ENV`: what runs where, what is retained for rollback, and the end of each host's audit log."""

from ci.deploy import plan
from ci.deploy.ledger import LineProblem, log_entries, read_log_tail
from ci.deploy.names import EnvironmentNames
from ci.commands.deploy import environment_for
from ci.commands.outcome import Outcome
from ci.console import info
from ci.deploy.sessions import host_by_host
from ci.reports import write_json_report

NAME = "releases"
HELP = "list an environment's releases on each host (current, retained) and its audit log"


def add_arguments(parser) -> None:
    parser.add_argument("--env", required=True, help="environment from ci.toml [environments.<name>]")
    parser.add_argument("--audit", type=int, default=10, help="audit log lines to show per host (default 10)")


def run(args, ctx) -> Outcome:
    environment = environment_for(ctx, args.env)
    project = ctx.config.project.name
    names = EnvironmentNames(project, args.env, ctx.config.deploy.state_dir)
    paths = names.paths
    hosts = []
    with host_by_host(environment, ctx.environ, ctx.root) as sessions:
        for text, session in sessions:
            current = session.text(plan.read_current_command(paths))
            releases = plan.parse_releases(session.text(plan.list_releases_command(names)), args.env)
            # A torn or corrupt line is named and skipped: the listing never fails on the log's content.
            audit, problems = log_entries(read_log_tail(session, paths, args.audit))
            hosts.append({"host": text, "current": current, "releases": releases, "audit": audit,
                          "audit_warnings": [f"line {problem.line} {problem.problem}" for problem in problems]})
            _show(text, current, releases, audit, problems)
    write_json_report(ctx.root, "releases.json", {"environment": args.env, "hosts": hosts}, ctx.report_run)
    currents = sorted({host["current"] or "nothing" for host in hosts})
    return Outcome.ok(f"{args.env}: {len(hosts)} host(s) serving {', '.join(currents)}")


def _show(host: str, current: str, releases: list[dict], audit: list[dict], problems: list[LineProblem]) -> None:
    info(f"{host}")
    for release in releases:
        mark = "*" if release["release"] == current else " "
        info(f"  {mark} {release['release']:<32} {release['state']:<9} model {release['model_version']:<22} "
             f"{release['digest'][:19]}")
    for entry in audit:
        # Fields as text: a record that is JSON but not ours (a null, a number) still prints.
        field = {key: str(entry.get(key) or "") for key in ("time", "action", "release", "result")}
        info(f"    {field['time']} {field['action']:<8} {field['release']:<32} {field['result']:<12} "
             f"by {entry.get('run_by') or '?'} approved by {entry.get('approved_by') or '-'}")
    for problem in problems:
        info(f"    warning: {host}: audit log line {problem.line} {problem.problem}; "
             f"`ci audit verify` checks the chain")
