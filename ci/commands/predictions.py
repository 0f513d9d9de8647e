"""`ci predictions export --env ENV [--since T] [--output FILE]`: an environment's prediction log as JSON lines.

On each host that holds a log (each host's volume; a shared PostgreSQL database once) the release that serves runs
`python -m model_app.export_predictions` (`docker exec`), which reads the store it is configured with; its output
streams over SSH straight into the file or stdout, never gathered in memory here.
"""

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ci.commands.deploy import environment_for
from ci.commands.outcome import Outcome
from ci.console import progress
from ci.deploy import plan
from ci.deploy.sessions import host_by_host
from ci.deploy.names import EnvironmentNames
from ci.deploy.predictions import export_command, exported_count, hosts_holding_log
from ci.errors import CannotRun, UserError
from ci.executor.ssh import SshHost
from model_app.export_predictions import parse_since

NAME = "predictions"
HELP = "read an environment's prediction log from its hosts (export: JSON lines)"


def add_arguments(parser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    export = actions.add_parser("export", help="write the predictions as JSON lines, one object per prediction",
                                description="write the predictions as JSON lines, one object per prediction")
    export.add_argument("--env", required=True, help="environment from ci.toml [environments.<name>]")
    export.add_argument("--since", help="only predictions at or after this ISO 8601 time (UTC when it has no offset)")
    export.add_argument("--output", help="file to write (default: stdout); written whole or not at all")


def run(args, ctx) -> Outcome:
    try:
        since = parse_since(args.since) if args.since else None
    except ValueError as error:
        raise UserError(str(error)) from None
    environment = environment_for(ctx, args.env)
    names = EnvironmentNames(ctx.config.project.name, args.env, ctx.config.deploy.state_dir)
    hosts = hosts_holding_log(environment.hosts, store_shared=bool(environment.database_url_variable))
    count = 0
    with host_by_host(environment, ctx.environ, ctx.root, hosts) as sessions, _output(args.output) as output:
        for _, session in sessions:
            count += _export_host(session, names, since, output)
    where = args.output or "stdout"
    return Outcome.ok(f"{count} predictions of {args.env} from {len(hosts)} host(s) written to {where}")


def _export_host(session: SshHost, names: EnvironmentNames, since, output: BinaryIO) -> int:
    current = session.text(plan.read_current_command(names.paths))
    if not current:
        raise CannotRun(f"{session.address}: no release of {names.env} is current here (nothing deployed yet)")
    progress(f"{session.address}: exporting the predictions through {current}")
    return exported_count(session.run_into(export_command(names.container(current), since), output))


@contextlib.contextmanager
def _output(path: str | None) -> Iterator[BinaryIO]:
    """stdout, or a file that appears only once the export is complete (a failed export leaves no partial file)."""
    if path is None:
        sys.stdout.flush()
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    target = Path(path)
    partial = target.with_name(f".{target.name}.partial")
    try:
        with partial.open("wb") as output:
            yield output
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
