"""`ci releases --env ENV`: what runs where, what is retained for rollback, and the end of each host's audit log."""

import json

from ci.deploy import plan
from ci.deploy.ledger import audit_tail_command
from ci.deploy.names import EnvironmentNames
from ci.commands.deploy import environment_for
from ci.commands.outcome import Outcome
from ci.console import info
from ci.deploy.credentials import ssh_credentials
from ci.executor.ssh import SshHost
from ci.reports import write_json_report
from ci.ssh_plan import HostAddress

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
    credentials = ssh_credentials(environment, ctx.environ, ctx.root)
    hosts = []
    try:
        for text in environment.hosts:
            session = SshHost(HostAddress.parse(text), credentials.key_file, credentials.known_hosts_file)
            try:
                current = session.text(plan.read_current_command(paths))
                releases = plan.parse_releases(session.text(plan.list_releases_command(names)), args.env)
                audit = [json.loads(line) for line in session.text(audit_tail_command(paths, args.audit))
                         .splitlines() if line.strip()]
            finally:
                session.close()
            hosts.append({"host": text, "current": current, "releases": releases, "audit": audit})
            _show(text, current, releases, audit)
    finally:
        credentials.cleanup()
    write_json_report(ctx.root, "releases.json", {"environment": args.env, "hosts": hosts}, ctx.report_run)
    currents = sorted({host["current"] or "nothing" for host in hosts})
    return Outcome.ok(f"{args.env}: {len(hosts)} host(s) serving {', '.join(currents)}")


def _show(host: str, current: str, releases: list[dict], audit: list[dict]) -> None:
    info(f"{host}")
    for release in releases:
        mark = "*" if release["release"] == current else " "
        info(f"  {mark} {release['release']:<32} {release['state']:<9} model {release['model_version']:<22} "
             f"{release['digest'][:19]}")
    for entry in audit:
        info(f"    {entry.get('time', '')} {entry.get('action', ''):<8} {entry.get('release', ''):<32} "
             f"{entry.get('result', ''):<12} by {entry.get('run_by', '?')} "
             f"approved by {entry.get('approved_by') or '-'}")
