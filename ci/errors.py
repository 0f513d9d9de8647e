"""The errors a user must act on, each with the exit code that tells Jenkins what kind of failure it was.

Exit codes (documented in the README):
  0  success
  1  the thing checked failed: lint findings, failing tests, a failed gate
  2  usage or configuration error: fix the command line or ci.toml
  3  the stage could not run: Docker engine unreachable, image missing, a service never became healthy
  130 interrupted (Ctrl-C); everything the stage started has been cleaned up
"""

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CANNOT_RUN = 3
EXIT_INTERRUPTED = 130


class UserError(Exception):
    """Something the user must fix; printed as one line, never as a traceback."""

    exit_code = EXIT_USAGE


class ConfigError(UserError):
    """ci.toml or a configuration environment variable is wrong; the message names the key."""


class CannotRun(UserError):
    """The environment cannot run this stage (no engine, no image, an unhealthy service)."""

    exit_code = EXIT_CANNOT_RUN


class CheckFailed(UserError):
    """The stage ran and what it checks failed."""

    exit_code = EXIT_FAILED
