"""The reverse proxy on a deploy target host as plain data: the commands (argv lists) that run it and switch its two
release slots, and a parser for what it reports (running them, locally or over SSH, is another module's job)."""

# A cutover to a new release container (its IP on the proxy's network, port 8000), `proxy` being the proxy container:
#   1. point_slot_commands(proxy, idle, ip, 8000)   idle slot: maint (again), then the new address
#   2. probe_slot_command(proxy, idle)              drain (health checks run, no traffic) + health forced DOWN
#   3. poll show_servers_state_command until slot_is_up(idle): only a passing HAProxy check can do that now
#   4-5. swap_slots_command(proxy, idle, active)    in one runtime API line: the new release takes new requests,
#                                                   the old one takes none (in-flight ones finish); a first
#                                                   release has no active slot: ready_slot_command(proxy, idle)
#   6. poll until slot_is_drained(active) (no current session, nothing queued), then maint_slot_command(proxy, active)
#   7. persist_state_command(proxy)                 haproxy.cfg on disk now routes to the new slot
# Rollback is the same procedure towards the other slot. No reload ever happens, so client connections (keep-alive
# included) are never closed by a switch.
# Why step 2, rather than `ready` straight from maint: HAProxy 2.6 counts a server leaving maintenance as UP at
# once, before any check, and keeps the last check result of its previous address; so `ready` would send traffic to
# a release no check has seen. In drain the checks run while the load balancer sends it nothing, and `health down`
# makes the next UP the verdict of a check of the new address (tests/toolkit/test_proxy_switch.py shows both).

import ipaddress
import re

from ci.deploy.names import label_arguments

BACKEND = "model"
SLOTS = ("blue", "green")
# Inside the proxy container (docker/proxy/): the public listener, the helper, the state and socket directories.
PROXY_CONTAINER_PORT = 8080
PROXY_UID = 10002
HELPER = "mlci-proxy"
STATE_DIR_IN_CONTAINER = "/var/lib/mlci-proxy"
SOCKET_DIR_IN_CONTAINER = "/run/haproxy"

# `show servers state`: srv_op_state values, and srv_admin_state bits (HAProxy's enum srv_admin). 0x04 (CMAINT)
# only records that the config said `disabled`: it stays set after `state ready` and does not stop traffic.
OPERATIONAL_STATES = {0: "DOWN", 1: "STARTING", 2: "UP", 3: "STOPPING"}
ADMIN_MAINT_BITS = 0x01 | 0x02 | 0x20
ADMIN_DRAIN_BITS = 0x08 | 0x10
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def other_slot(slot: str) -> str:
    return SLOTS[1 - SLOTS.index(_slot(slot))]


def network_create_command(network: str, labels: dict[str, str]) -> list[str]:
    """A user-defined bridge: the proxy reaches releases by IP on it, and releases publish no port at all."""
    return ["docker", "network", "create", "--driver", "bridge", *label_arguments(labels), _name(network)]


def network_exists_command(network: str) -> list[str]:
    """Exit status 0 when the network exists (network create is not idempotent)."""
    return ["docker", "network", "inspect", "--format", "{{.Name}}", _name(network)]


def state_dir_command(state_dir: str) -> list[str]:
    """Create the host directory holding haproxy.cfg, writable by the proxy's non-root user (idempotent)."""
    return ["install", "-d", "-m", "0755", "-o", str(PROXY_UID), "-g", str(PROXY_UID), _host_path(state_dir)]


def proxy_run_command(name: str, labels: dict[str, str], image: str, public_port: int, network: str,
                      state_dir: str, bind_address: str = "") -> list[str]:
    """`docker run` of the proxy: the service's public port, the state directory, restarted with the engine.

    public_port 0 lets the engine pick a free host port; bind_address "" publishes on every interface.
    """
    if not 0 <= public_port <= 65535:
        raise ValueError(f"public_port must be 0-65535, not {public_port}")
    if not image or image.startswith("-"):
        raise ValueError(f"not an image reference: {image!r}")
    host_port = str(public_port) if public_port else ""
    if bind_address:
        host = f"[{bind_address}]" if ":" in bind_address else bind_address
        publish = f"{host}:{host_port}:{PROXY_CONTAINER_PORT}"
    else:
        publish = f"{host_port}:{PROXY_CONTAINER_PORT}" if host_port else str(PROXY_CONTAINER_PORT)
    return [
        "docker", "run", "--detach", "--name", _name(name),
        # The proxy is the service's front door: it comes back with the engine and after a crash.
        "--restart", "unless-stopped",
        "--network", _name(network), "--publish", publish,
        # --mount, unlike -v, refuses a missing source instead of creating it root-owned (see state_dir_command).
        "--mount", f"type=bind,source={_host_path(state_dir)},target={STATE_DIR_IN_CONTAINER}",
        "--read-only",
        "--tmpfs", f"{SOCKET_DIR_IN_CONTAINER}:rw,size=1m,mode=0700,uid={PROXY_UID},gid={PROXY_UID}",
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        *label_arguments(labels),
        image,
    ]


def container_ip_command(container: str, network: str) -> list[str]:
    """Print a release container's IP on the proxy's network: what a slot is pointed at."""
    return ["docker", "inspect", "--format", f'{{{{(index .NetworkSettings.Networks "{_name(network)}").IPAddress}}}}',
            _name(container)]


def runtime_api_command(container: str, api_line: str) -> list[str]:
    """Send one line to HAProxy's runtime API (admin socket) inside the proxy; exit status 1 when it refuses."""
    if "\n" in api_line or "\r" in api_line:
        raise ValueError("a runtime API line must be one line")
    return ["docker", "exec", _name(container), HELPER, "api", api_line]


def point_slot_commands(container: str, slot: str, ip: str, port: int) -> list[list[str]]:
    """Point the idle slot at a release; maint first, so that it never serves while its address changes."""
    address = ipaddress.ip_address(ip)  # also keeps anything but an address (a `;` would chain commands) out
    if not 0 < port <= 65535:
        raise ValueError(f"port must be 1-65535, not {port}")
    return [maint_slot_command(container, slot),
            runtime_api_command(container, f"set server {_server(slot)} addr {address} port {port}")]


# The helper's exit statuses (docker/proxy/mlci-proxy.py): the new slot's health check never passed; a command it
# does not know (a proxy started by an older toolkit has no `switch`).
SWITCH_CHECK_NEVER_PASSED = 3
SWITCH_UNKNOWN = 2


def switch_command(container: str, new_slot: str, old_slot: str, ip: str, port: int, check_seconds: float,
                   drain_seconds: float) -> list[str]:
    """The whole switch in one call, run inside the proxy (see the helper's `switch`): the steps of
    point_slot_commands, probe_slot_command, the wait for the check, swap_slots_command (ready_slot_command when
    there is no old slot), the drain, maint_slot_command and persist_state_command, without a `docker exec` and an
    interpreter start per step. old_slot "" is none."""
    address = ipaddress.ip_address(ip)
    if not 0 < port <= 65535:
        raise ValueError(f"port must be 1-65535, not {port}")
    if old_slot:
        _slot(old_slot)
    return ["docker", "exec", _name(container), HELPER, "switch", _slot(new_slot), old_slot or "-", str(address),
            str(port), f"{check_seconds:g}", f"{drain_seconds:g}"]


def probe_slot_command(container: str, slot: str) -> list[str]:
    """Out of maintenance without traffic (drain), health forced DOWN: only a fresh passing check makes it UP."""
    server = _server(slot)
    # One line, in this order: `health down` has no effect on a server in maintenance.
    return runtime_api_command(container, f"set server {server} state drain; set server {server} health down")


def ready_slot_command(container: str, slot: str) -> list[str]:
    return runtime_api_command(container, f"set server {_server(slot)} state ready")


def swap_slots_command(container: str, new_slot: str, old_slot: str) -> list[str]:
    """The switch itself, in one runtime API line: the new slot takes new requests and the old one stops taking
    them at the same moment, so that no fault of the deployer (killed, cut off) can leave both taking traffic."""
    return runtime_api_command(container, f"set server {_server(new_slot)} state ready; "
                                          f"set server {_server(old_slot)} state drain")


def drain_slot_command(container: str, slot: str) -> list[str]:
    """No new requests for the slot; requests in flight finish."""
    return runtime_api_command(container, f"set server {_server(slot)} state drain")


def maint_slot_command(container: str, slot: str) -> list[str]:
    """Out of rotation and unchecked; use once the slot is drained (current_sessions 0)."""
    return runtime_api_command(container, f"set server {_server(slot)} state maint")


def show_servers_state_command(container: str) -> list[str]:
    """Both views in one round trip; parse_servers_state reads the answer.

    `show servers state` has the admin and operational states apart (`show stat` folds them into one status:
    a drained UP server just says DRAIN) but no sessions; `show stat` has current sessions, queue and counters.
    """
    return runtime_api_command(container, f"show servers state {BACKEND}; show stat {BACKEND} 4 -1")


def persist_state_command(container: str) -> list[str]:
    """Rewrite <state dir>/haproxy.cfg from the running state, so a restarted proxy routes to the active slot."""
    return ["docker", "exec", _name(container), HELPER, "persist"]


def parse_servers_state(text: str) -> dict[str, dict]:
    """The answer of show_servers_state_command -> {slot: {addr, port, operational_state, admin_state,
    current_sessions, queued, check_status, total_requests}}. Raises ValueError when a part is missing."""
    state_rows = _rows(text, "# be_id ", " ")
    stat_rows = {row["svname"]: row for row in _rows(text, "# pxname,", ",") if row["pxname"] == BACKEND}
    slots = {}
    for row in state_rows:
        slot = row["srv_name"]
        if row["be_name"] != BACKEND or slot not in SLOTS:
            continue
        if slot not in stat_rows:
            raise ValueError(f"no `show stat` row for {BACKEND}/{slot}")
        stat = stat_rows[slot]
        admin = int(row["srv_admin_state"])
        slots[slot] = {
            "addr": row["srv_addr"],
            "port": int(row["srv_port"]),
            "operational_state": OPERATIONAL_STATES.get(int(row["srv_op_state"]), row["srv_op_state"]),
            "admin_state": "maint" if admin & ADMIN_MAINT_BITS else "drain" if admin & ADMIN_DRAIN_BITS else "ready",
            "current_sessions": int(stat["scur"] or 0),
            "queued": int(stat["qcur"] or 0),
            "check_status": stat["check_status"],
            "total_requests": int(stat["req_tot"] or 0),
        }
    missing = [slot for slot in SLOTS if slot not in slots]
    if missing:
        raise ValueError(f"no `show servers state` row for {', '.join(missing)} in backend {BACKEND}")
    return slots


def slot_is_up(states: dict[str, dict], slot: str) -> bool:
    return states[_slot(slot)]["operational_state"] == "UP"


def slot_is_drained(states: dict[str, dict], slot: str) -> bool:
    return states[_slot(slot)]["current_sessions"] == 0 and states[_slot(slot)]["queued"] == 0


def serving_slots(states: dict[str, dict]) -> list[str]:
    """Slots taking new requests: one normally, none before the first deploy, two in the middle of a switch."""
    return [slot for slot in SLOTS if states[slot]["admin_state"] == "ready" and slot_is_up(states, slot)]


def _rows(text: str, header_prefix: str, separator: str) -> list[dict[str, str]]:
    lines = text.splitlines()
    start = next((index for index, line in enumerate(lines) if line.startswith(header_prefix)), None)
    if start is None:
        raise ValueError(f"no {header_prefix.strip()!r} header in the runtime API answer")
    header = lines[start][2:].rstrip(separator).split(separator)
    rows = []
    for line in lines[start + 1:]:
        if not line.strip() or line.startswith("#"):
            break  # a blank line ends one command's answer
        rows.append(dict(zip(header, line.split(separator))))
    return rows


def _slot(slot: str) -> str:
    if slot not in SLOTS:
        raise ValueError(f"slot must be one of {', '.join(SLOTS)}, not {slot!r}")
    return slot


def _server(slot: str) -> str:
    return f"{BACKEND}/{_slot(slot)}"


def _name(name: str) -> str:
    # Docker's own rule for container and network names; it also keeps options (`-x`) out of argv positions.
    if not NAME.match(name):
        raise ValueError(f"not a valid Docker name: {name!r}")
    return name


def _host_path(path: str) -> str:
    if not path.startswith("/") or "," in path:
        raise ValueError(f"the state directory must be an absolute path without commas: {path!r}")
    return path
