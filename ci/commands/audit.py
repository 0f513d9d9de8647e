"""`ci audit verify --env ENV`: read each host's whole audit log over SSH and check its hash chain.

Per host: the records, the head hash (the sha256 of the last record's line: compare it with the head a deploy
recorded) and the first broken link. Exit 0 when every chain verifies, 1 otherwise; reports/audit-verify.json.
"""

from ci.commands.deploy import environment_for
from ci.commands.outcome import Outcome
from ci.console import info
from ci.deploy.sessions import host_by_host
from ci.deploy.ledger import ChainReport, read_log_tail, verify_chain
from ci.deploy.names import EnvironmentNames
from ci.errors import CheckFailed
from ci.reports import write_json_report

NAME = "audit"
HELP = "check the environment's audit logs: `audit verify --env ENV` verifies each host's hash chain"
AUDIT_VERIFY_REPORT = "audit-verify.json"


def add_arguments(parser) -> None:
    actions = parser.add_subparsers(dest="audit_action", required=True, metavar="ACTION")
    verify = actions.add_parser("verify", help="read every host's whole audit log and check its hash chain")
    verify.add_argument("--env", required=True, help="environment from ci.toml [environments.<name>]")


def run(args, ctx) -> Outcome:
    environment = environment_for(ctx, args.env)
    paths = EnvironmentNames(ctx.config.project.name, args.env, ctx.config.deploy.state_dir).paths
    hosts = []
    with host_by_host(environment, ctx.environ, ctx.root) as sessions:
        for text, session in sessions:
            chain = verify_chain(read_log_tail(session, paths, None).data)
            info(host_line(text, chain))
            for note in chain.notes:
                info(f"  note: line {note.line} {note.problem}")
            hosts.append(host_record(text, chain))
    write_json_report(ctx.root, AUDIT_VERIFY_REPORT, {"environment": args.env, "log": paths.audit_log,
                                                      "hosts": hosts}, ctx.report_run)
    broken = [host["host"] for host in hosts if not host["verified"]]
    if broken:
        raise CheckFailed(f"{args.env}: the audit chain is broken on {len(broken)} of {len(hosts)} host(s): "
                          f"{', '.join(broken)} (reports/{AUDIT_VERIFY_REPORT})")
    return Outcome.ok(f"{args.env}: the audit chain verifies on {len(hosts)} host(s)")


def host_line(host: str, chain: ChainReport) -> str:
    """One line a person reads: records, head, and the first broken link (or that the chain verifies)."""
    unchained = f", {chain.unchained} from before the chain" if chain.unchained else ""
    torn = f"; torn tail at line {chain.torn_tail}" if chain.torn_tail else ""
    verdict = "chain verifies" if chain.verified else \
        f"BROKEN at line {chain.broken[0].line}: {chain.broken[0].problem}"
    return f"{host}: {chain.records} record(s){unchained}, head {chain.head_sha256[:16]}…, {verdict}{torn}"


def host_record(host: str, chain: ChainReport) -> dict:
    def problems(items) -> list[dict]:
        return [{"line": item.line, "problem": item.problem} for item in items]

    return {"host": host, "verified": chain.verified, "records": chain.records, "unchained": chain.unchained,
            "head_sha256": chain.head_sha256, "first_broken": problems(chain.broken[:1])[0] if chain.broken else None,
            "broken": problems(chain.broken), "notes": problems(chain.notes), "torn_tail_line": chain.torn_tail}
