"""The single entry point: `python -m ci <command>`; one module per command under ci/commands/."""

import argparse
import signal
import sys

from ci.bootstrap import ensure_project_environment

if __name__ == "__main__":
    # Before any pinned dependency is imported: `python3 -m ci` from any interpreter lands in the project's venv.
    ensure_project_environment()

from ci.commands import (approve, audit, build, cleanup, deploy, down, evidence, images, jenkins,  # noqa: E402
                         lint, new_run, pipeline, predictions, push, releases, report, rollback, setup, test, up)
from ci.commands.outcome import Outcome  # noqa: E402
from ci.console import Stopwatch, info, summary_line  # noqa: E402
from ci.context import Context  # noqa: E402
from ci.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, UserError  # noqa: E402

COMMANDS = (new_run, setup, lint, test, build, push, evidence, approve, deploy, rollback, releases, audit,
            predictions, jenkins, images, up, down, cleanup, pipeline, report)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ci",
        description="The ML model pipeline toolkit: each Jenkins stage is one of these commands.",
        epilog="Exit codes: 0 ok, 1 checks failed, 2 usage/configuration error, 3 could not run, 130 interrupted.",
    )
    parser.usage = "python -m ci COMMAND [options] [-- arguments for the wrapped tool]"
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        sub = commands.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def _terminate_as_interrupt(signum, frame):
    # Jenkins aborts a build with SIGTERM: treat it like Ctrl-C so the same cleanup runs.
    raise KeyboardInterrupt


def split_passthrough(argv: list[str]) -> tuple[list[str], list[str]]:
    """Arguments after the first `--` are handed to the tool a command wraps (pytest for `ci test`)."""
    if "--" in argv:
        index = argv.index("--")
        return argv[:index], argv[index + 1:]
    return argv, []


def main(argv: list[str] | None = None) -> int:
    own, passthrough = split_passthrough(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(own)
    args.passthrough = passthrough
    signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    watch = Stopwatch()
    try:
        outcome: Outcome = args.run(args, Context.from_environment())
    except UserError as error:
        status = "failed" if error.exit_code == EXIT_FAILED else "error"
        info(summary_line(args.command, status, watch.seconds, str(error)))
        return error.exit_code
    except KeyboardInterrupt:
        info(summary_line(args.command, "interrupted", watch.seconds, "interrupted; cleaned up what it had started"))
        return EXIT_INTERRUPTED
    status = "ok" if outcome.exit_code == EXIT_OK else "failed"
    info(summary_line(args.command, status, watch.seconds, outcome.summary))
    return outcome.exit_code


if __name__ == "__main__":
    sys.exit(main())
