"""Fault injection for tests of the deploy's promises: `CI_DEPLOY_FAULT=<step>:<action>[@<host index>]` makes the
deploy or rollback fail just before that step on that host (every host when no index is given).

Actions: `raise` (an unexpected exception, not a UserError), `kill` (SIGKILL of the deploying process: nothing of
ours runs after it), `term` (SIGTERM, as a Jenkins abort sends), `cut` (the host's SSH connection dies and every
later command to it fails for CUT_SECONDS). Steps: see HostChange.STEPS in ci/deploy/host.py.
"""

from dataclasses import dataclass

from ci.errors import ConfigError

FAULT_VARIABLE = "CI_DEPLOY_FAULT"
ACTIONS = ("raise", "kill", "term", "cut")
CUT_SECONDS = 30


class InjectedFault(RuntimeError):
    """Raised by the `raise` action: deliberately not a UserError, as an unforeseen failure would not be."""


@dataclass(frozen=True)
class Fault:
    step: str
    action: str
    host: int | None = None

    def applies(self, step: str, host_index: int) -> bool:
        return self.step == step and (self.host is None or self.host == host_index)


def parse_fault(text: str, steps: tuple[str, ...]) -> Fault | None:
    """The fault a CI_DEPLOY_FAULT value asks for (None when empty); a ConfigError naming the variable otherwise."""
    text = (text or "").strip()
    if not text:
        return None
    where, _, host = text.partition("@")
    step, _, action = where.partition(":")
    if step not in steps or action not in ACTIONS or (host and not host.isdigit()):
        raise ConfigError(f"{FAULT_VARIABLE}={text!r}: expected <step>:<action>[@<host index>] with step one of "
                          f"{', '.join(steps)} and action one of {', '.join(ACTIONS)}")
    return Fault(step, action, int(host) if host else None)
