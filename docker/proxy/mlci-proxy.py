#!/usr/bin/env python3
"""The proxy container's entrypoint and helper: start HAProxy, talk to its runtime API, persist slot state.

    mlci-proxy start          render <state dir>/haproxy.cfg (image template + slot lines kept from the last
                              persisted file) and exec HAProxy in the foreground
    mlci-proxy api '<line>'   send one runtime-API line to the admin socket, print the answer; exit 1 when
                              HAProxy refused it
    mlci-proxy persist        write the slots' current addresses and states into <state dir>/haproxy.cfg
    mlci-proxy switch NEW OLD ADDR PORT CHECK_SECONDS DRAIN_SECONDS
                              the whole traffic switch in one call (each call from the deployer costs a `docker
                              exec` and an interpreter start, ~0.1 s): point slot NEW at ADDR:PORT (maintenance
                              first), force its health DOWN so that only a fresh passing check makes it UP, wait
                              for that (exit 3 after CHECK_SECONDS), then in one line NEW takes new requests and OLD
                              ("-": none) none, wait for OLD to drain (up to DRAIN_SECONDS), maintenance on OLD,
                              persist. Prints one line per stage done: pointed, up, switched, drained|not-drained,
                              persisted
    mlci-proxy health         the HEALTHCHECK: the proxy's own monitor URI answers 200

Only the standard library: python3 is in every base image the project builds from, and no socat is needed.
"""

import os
import re
import socket
import sys
import tempfile
import time
import urllib.request

TEMPLATE = "/usr/local/share/mlci-proxy/haproxy.cfg"
STATE_DIR = os.environ.get("MLCI_PROXY_STATE_DIR", "/var/lib/mlci-proxy")
CONFIG = os.path.join(STATE_DIR, "haproxy.cfg")
SOCKET = "/run/haproxy/admin.sock"
HEALTH_URL = "http://127.0.0.1:8405/healthz"
BACKEND = "model"
SLOTS = ("blue", "green")
MAINT_BITS = 0x01 | 0x02 | 0x20
DRAIN_BITS = 0x08 | 0x10
SERVER_LINE = re.compile(r"^(?P<indent>\s*)server\s+(?P<slot>blue|green)\s+(?P<addr>\S+):(?P<port>\d+)(?P<rest>.*)$")
# The runtime API has no status code, only text: these are how HAProxy 2.6 words a refusal.
REFUSALS = ("No such", "Unknown command", "Permission denied", "Require ", "Invalid ", "Missing ", "'set server",
            "Can't", "Failed", "Error", "Unknown ")


def api(line: str, timeout: float = 10.0) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(timeout)
        connection.connect(SOCKET)
        connection.sendall(line.encode() + b"\n")
        chunks = []
        # Without `prompt` HAProxy closes the connection after answering, so EOF ends the answer.
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def refused(answer: str) -> bool:
    return any(line.startswith(REFUSALS) for line in answer.splitlines())


SWITCH_POLL_SECONDS = 0.02
CHECK_NEVER_PASSED = 3


def server_rows() -> dict[str, dict]:
    """Each slot's operational state (2: UP) and sessions, from `show servers state` and `show stat`."""
    answer = api(f"show servers state {BACKEND}; show stat {BACKEND} 4 -1")
    rows, header = {}, None
    for line in answer.splitlines():
        if line.startswith("# be_id "):
            header = ("state", line[2:].split())
        elif line.startswith("# pxname,"):
            header = ("stat", line[2:].rstrip(",").split(","))
        elif header and line.strip() and not line.startswith("#"):
            kind, names = header
            row = dict(zip(names, line.split(" ") if kind == "state" else line.split(",")))
            slot = row.get("srv_name") or row.get("svname")
            if slot in SLOTS:
                rows.setdefault(slot, {}).update(row)
    return rows


def wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while True:
        if condition(server_rows()):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(SWITCH_POLL_SECONDS)


def checked_api(line: str) -> None:
    answer = api(line)
    if refused(answer):
        raise SystemExit(f"mlci-proxy: HAProxy refused {line!r}: {answer.strip()}")


def switch(new: str, old: str, addr: str, port: str, check_seconds: float, drain_seconds: float) -> int:
    if new not in SLOTS or old not in (*SLOTS, "-") or old == new:
        raise SystemExit(f"mlci-proxy switch: slots must be {' or '.join(SLOTS)} (old may be -), not {new} {old}")
    server = f"{BACKEND}/{new}"
    # One line, in this order: `health down` has no effect on a server in maintenance.
    checked_api(f"set server {server} state maint; set server {server} addr {addr} port {int(port)}; "
                f"set server {server} state drain; set server {server} health down")
    print("pointed", flush=True)
    if not wait_for(lambda rows: rows.get(new, {}).get("srv_op_state") == "2", check_seconds):
        print(f"the proxy's health check never passed for {addr}:{port} in slot {new}", file=sys.stderr)
        return CHECK_NEVER_PASSED
    print("up", flush=True)
    if old == "-":
        checked_api(f"set server {server} state ready")
        print("switched", flush=True)
    else:
        checked_api(f"set server {server} state ready; set server {BACKEND}/{old} state drain")
        print("switched", flush=True)
        drained = wait_for(lambda rows: rows.get(old, {}).get("scur") in ("0", "")
                           and rows.get(old, {}).get("qcur") in ("0", ""), drain_seconds)
        print("drained" if drained else "not-drained", flush=True)
        checked_api(f"set server {BACKEND}/{old} state maint")
    persist()
    print("persisted", flush=True)
    return 0


def persist() -> None:
    with open(TEMPLATE) as source:
        template = source.read()
    write_atomically(CONFIG, render(template, slots_from_runtime()))


def slots_from_config(text: str) -> dict[str, dict]:
    slots = {}
    for line in text.splitlines():
        match = SERVER_LINE.match(line)
        if match:
            slots[match["slot"]] = {"addr": match["addr"], "port": match["port"],
                                    "enabled": "disabled" not in match["rest"].split()}
    return slots


def slots_from_runtime() -> dict[str, dict]:
    """Addresses and admin states from `show servers state` (fields are space-separated, named by its header)."""
    lines = api(f"show servers state {BACKEND}").splitlines()
    header = next(line for line in lines if line.startswith("# "))[2:].split()
    slots = {}
    for line in lines:
        fields = line.split()
        if line.startswith("#") or len(fields) != len(header):
            continue
        row = dict(zip(header, fields))
        if row["srv_name"] in SLOTS:
            # Admin state bits: 0x01/0x02/0x20 are kinds of maintenance, 0x08/0x10 draining (0x04 only records the
            # config's `disabled` and survives `state ready`). A draining slot is on its way out, so a restarted
            # proxy keeps it out too.
            enabled = not int(row["srv_admin_state"]) & (MAINT_BITS | DRAIN_BITS)
            slots[row["srv_name"]] = {"addr": row["srv_addr"], "port": row["srv_port"], "enabled": enabled}
    return slots


def render(template: str, slots: dict[str, dict]) -> str:
    out = []
    for line in template.splitlines():
        match = SERVER_LINE.match(line)
        if match and match["slot"] in slots:
            slot = slots[match["slot"]]
            # The template's options after the address are kept, except its own `disabled`.
            rest = [word for word in match["rest"].split() if word != "disabled"]
            words = [f"server {match['slot']} {slot['addr']}:{slot['port']}", *rest]
            if not slot["enabled"]:
                words.append("disabled")
            line = match["indent"] + " ".join(words)
        out.append(line)
    return "\n".join(out) + "\n"


def write_atomically(path: str, text: str) -> None:
    # Same directory, then rename: a proxy restarting at any moment reads the old file or the new one, whole.
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".haproxy.cfg.")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def start() -> None:
    with open(TEMPLATE) as source:
        template = source.read()
    kept = {}
    if os.path.exists(CONFIG):
        with open(CONFIG) as source:
            kept = slots_from_config(source.read())
    write_atomically(CONFIG, render(template, kept))
    # -db: foreground (the container's main process). Not -q: it would also hide a start-up ALERT. So a server state
    # change shows twice in `docker logs`: once on stderr as a [WARNING], once from `log stdout`.
    os.execv("/usr/sbin/haproxy", ["haproxy", "-db", "-f", CONFIG])


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "start"
    try:
        return run(command, argv)
    except OSError as error:  # no socket yet (HAProxy starting), or the state directory not writable
        print(f"mlci-proxy {command}: {error}", file=sys.stderr)
        return 1


def run(command: str, argv: list[str]) -> int:
    if command == "start":
        start()
    elif command == "api" and len(argv) == 3:
        answer = api(argv[2])
        sys.stdout.write(answer)
        return 1 if refused(answer) else 0
    elif command == "persist":
        persist()
    elif command == "switch" and len(argv) == 8:
        return switch(argv[2], argv[3], argv[4], argv[5], float(argv[6]), float(argv[7]))
    elif command == "health":
        with urllib.request.urlopen(HEALTH_URL, timeout=3) as response:
            return 0 if response.status == 200 else 1
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
