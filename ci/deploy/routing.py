"""What the proxy really routes, read against what the host's record says: the start of every deploy and rollback.

A deploy that was killed, or a proxy changed by hand, can leave the record (`current`) saying one thing and the
proxy doing another. The switch is planned from what the proxy does; what differs from the record is said, and
what cannot be explained (a slot taking traffic at an address that is no release of the environment) is refused
before anything changes.
"""

from dataclasses import dataclass

from ci.deploy import proxy
from ci.errors import CannotRun


@dataclass(frozen=True)
class Routing:
    """The release taking traffic ('' for none), its slot, other slots also taking traffic, and what differs from
    the record."""

    release: str
    slot: str
    strays: tuple[str, ...] = ()
    note: str = ""


def parse_network_members(text: str, prefix: str) -> dict[str, str]:
    """`docker network inspect` lines "<container> <ip/len>" -> {release id: ip} of the environment's releases."""
    members = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 2 or not parts[0].startswith(prefix + "-"):
            continue
        members[parts[0][len(prefix) + 1:]] = parts[1].split("/", 1)[0]
    return members


def network_members_command(network: str) -> list[str]:
    return ["docker", "network", "inspect", "--format",
            '{{range .Containers}}{{.Name}} {{.IPv4Address}}{{"\\n"}}{{end}}', network]


def routing(states: dict[str, dict], members: dict[str, str], recorded: str) -> Routing:
    """Decide from the proxy's slot states, the releases on the network ({release: ip}) and the recorded current."""
    release_at = {ip: release for release, ip in members.items()}
    serving = [(slot, release_at.get(states[slot]["addr"])) for slot in proxy.serving_slots(states)]
    unknown = [f"{slot} -> {states[slot]['addr']}" for slot, release in serving if release is None]
    if unknown:
        raise CannotRun(f"the proxy sends traffic to an address that is no release of this environment "
                        f"({', '.join(unknown)}; releases: {members or 'none'}): it was changed by hand; point it "
                        f"back (`ci rollback`) or fix it, then deploy")
    if not serving:
        note = f"the record says {recorded} serves, but the proxy routes nothing" if recorded else ""
        return Routing("", "", (), note)
    chosen = next(((slot, release) for slot, release in serving if release == recorded), serving[0])
    strays = tuple(slot for slot, _ in serving if slot != chosen[0])
    notes = []
    if chosen[1] != recorded:
        notes.append(f"the proxy routes {chosen[1]}, the record says {recorded or 'nothing'}")
    if strays:
        notes.append(f"slot {', '.join(strays)} also took traffic (a switch left half done): drained first")
    return Routing(chosen[1], chosen[0], strays, "; ".join(notes))
