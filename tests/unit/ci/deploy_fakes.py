"""A fake target host for the deploy sequence's unit tests: it keeps the state a real host has (containers, their
health and addresses, the proxy's two slots, images, networks) and answers the exact argv the deploy sends, as
Docker and the proxy's runtime API would. The `sh -c` scripts (lock, current, audit) run for real, locally, on the
state directory (a temporary directory), so lock and ledger behave as their code does. Every command is recorded.

What it models, and where that comes from: a slot's health check passes when the slot is out of maintenance and
points at a running, healthy container (HAProxy `check ... rise 1`, docker/proxy/haproxy.cfg); `ready` takes
traffic only when UP; the answers' format is that of tests/unit/ci/test_proxy.py's captures, cut to the columns
ci/deploy/proxy.py parses."""

import json
import shlex
import subprocess
import threading
from dataclasses import dataclass, field
from types import SimpleNamespace

from ci.errors import CannotRun
from ci.executor.ssh import RemoteCommandFailed

ADMIN_BITS = {"ready": 0, "drain": 0x08, "maint": 0x01}


@dataclass
class FakeContainer:
    name: str
    image: str
    ip: str
    labels: dict
    running: bool = True
    healthy_after: int = 1  # health polls until healthy; -1: never
    polls: int = 0
    created: int = 0


@dataclass
class Slot:
    addr: str = "127.0.0.1"
    admin: str = "maint"
    forced_down: bool = False


@dataclass
class FakeHost:
    """One target host. `fail_when(predicate)` makes matching commands fail (exit 1) or raise (cut)."""

    address: str
    images: set = field(default_factory=set)
    containers: dict = field(default_factory=dict)
    networks: set = field(default_factory=set)
    slots: dict = field(default_factory=lambda: {"blue": Slot(), "green": Slot()})
    proxy_running: bool = False
    log: list = field(default_factory=list)
    broken_images: set = field(default_factory=set)
    failures: list = field(default_factory=list)
    cut_for: float = 0
    next_ip: int = 10
    lock: threading.Lock = field(default_factory=threading.Lock)
    clock: int = 0
    # (the configured state dir, this host's own directory standing for it): the scripts run locally.
    state_dir: tuple[str, str] = ("", "")
    inputs: list = field(default_factory=list)  # (argv, stdin) of every command given one
    old_proxy_helper: bool = False  # a proxy started by an older toolkit: its helper has no `switch`

    # -- the SshHost interface ------------------------------------------------------------------------------------

    def run(self, argv, input_bytes=None, timeout=120, check=True):
        argv = list(argv)
        with self.lock:
            self.log.append(argv)
            if input_bytes is not None:
                self.inputs.append((argv, input_bytes))
            for predicate, effect in self.failures:
                if predicate(argv):
                    if effect == "cut":
                        raise CannotRun(f"{self.address}: SSH connection failed: connection cut (test)")
                    return self._answer(argv, 1, "", "injected failure", check)
            code, out, err = self._dispatch(argv, input_bytes)
        return self._answer(argv, code, out, err, check)

    def text(self, argv, timeout=120) -> str:
        return self.run(argv, timeout=timeout).stdout.decode().strip()

    def pipe_from_local(self, local_argv, remote_argv, timeout=900) -> None:
        with self.lock:
            self.log.append(["pipe", *local_argv, "|", *remote_argv])
            self.images.add(local_argv[-1])

    def forward_to_host(self, port, local, cancel=False) -> None:
        pass

    def cut(self, seconds) -> None:
        self.failures.append((lambda argv: True, "cut"))

    def close(self) -> None:
        pass

    def fail_when(self, predicate, effect="fail") -> None:
        self.failures.append((predicate, effect))

    # -- what a test asks -----------------------------------------------------------------------------------------

    def serving(self) -> list[str]:
        """Release containers taking traffic: slot ready, UP, at the container's address."""
        with self.lock:
            return [self._container_at(slot.addr).name for slot in self.slots.values()
                    if slot.admin == "ready" and self._up(slot)]

    def running(self) -> list[str]:
        return sorted(name for name, c in self.containers.items() if c.running)

    def commands(self, word: str) -> list[list[str]]:
        return [argv for argv in self.log if word in " ".join(argv)]

    # -- the host's side ------------------------------------------------------------------------------------------

    def _answer(self, argv, code, out, err, check):
        if check and code != 0:
            raise RemoteCommandFailed(self.address, argv, code, err)
        return SimpleNamespace(returncode=code, stdout=out.encode(), stderr=err.encode())

    def _dispatch(self, argv, input_bytes):
        if argv[:2] == ["sh", "-c"]:
            if "retiring-" in argv[2]:  # the grace-period sleeper: recorded, not started
                return 0, "", ""
            script = argv[2].replace(*self.state_dir) if self.state_dir[0] else argv[2]
            done = subprocess.run(["sh", "-c", script], input=input_bytes, capture_output=True, timeout=30)
            return done.returncode, done.stdout.decode(), done.stderr.decode()
        if argv[0] in ("true", "install"):
            return 0, "", ""
        if argv[0] != "docker":
            return 127, "", f"{argv[0]}: not found"
        return self._docker(argv[1:])

    def _docker(self, args):
        verb = args[0]
        if verb == "image" and args[1] == "inspect":
            return (0, args[-1], "") if args[-1] in self.images else (1, "", "No such image")
        if verb == "image" and args[1] == "rm":
            self.images.discard(args[-1])
            return 0, "", ""
        if verb == "pull":
            return 1, "", "no registry here"
        if verb == "network":
            name = args[-1]
            if args[1] == "create":
                self.networks.add(name)
                return 0, name, ""
            if name not in self.networks:
                return 1, "", f"network {name} not found"
            if "range .Containers" in args[3]:
                return 0, "".join(f"{c.name} {c.ip}/16\n" for c in self.containers.values() if c.running), ""
            return 0, name, ""
        if verb == "run":
            return self._run_container(args)
        if verb == "rm":
            name = args[-1]
            if name.endswith("-proxy"):
                self.proxy_running = False
            self.containers.pop(name, None)
            return 0, "", ""
        if verb in ("start", "stop"):
            container = self.containers.get(args[-1])
            if container is None:
                return 1, "", f"No such container: {args[-1]}"
            container.running = verb == "start"
            container.polls = 0
            if verb == "start":
                container.ip = self._ip()
            return 0, args[-1], ""
        if verb == "inspect":
            return self._inspect(args)
        if verb == "logs":
            return 0, "", "log tail"
        if verb == "ps":
            return 0, "".join(self._ps_line(c) + "\n" for c in self.containers.values()), ""
        if verb == "exec" and args[1] in self.containers:  # the release's own health check, run at once
            container = self.containers[args[1]]
            container.polls += 1
            return (0, "", "") if container.running and 0 <= container.healthy_after <= container.polls else \
                (1, "", "not ready")
        if verb == "exec":
            return self._proxy(args)
        return 1, "", f"fake docker: unknown {args}"

    def _run_container(self, args):
        name = args[args.index("--name") + 1]
        if name.endswith("-proxy"):
            self.proxy_running = True
            return 0, "proxy", ""
        image = args[-1]
        if name in self.containers:
            return 125, "", f"Conflict. The container name {name} is already in use"
        labels = dict(args[i + 1].split("=", 1) for i, a in enumerate(args) if a == "--label")
        self.clock += 1
        self.containers[name] = FakeContainer(name, image, self._ip(), labels,
                                              healthy_after=-1 if image in self.broken_images else 1,
                                              created=self.clock)
        return 0, name, ""

    def _inspect(self, args):
        form, name = args[2], args[-1]
        if name.startswith("mlci-") and name.endswith("-proxy"):
            return (0, "true" if self.proxy_running else "false", "") if "Running" in form else (0, "", "")
        container = self.containers.get(name)
        if container is None:
            return 1, "", f"Error: No such object: {name}"
        if "IPAddress" in form:
            return 0, container.ip if container.running else "", ""
        if "State.Status" in form:
            if not container.running:
                return 0, "exited none", ""
            container.polls += 1
            healthy = container.healthy_after >= 0 and container.polls >= container.healthy_after
            return 0, "running healthy" if healthy else "running starting", ""
        return 0, "true" if container.running else "false", ""

    def _ps_line(self, container: FakeContainer) -> str:
        return json.dumps({"Names": container.name, "State": "running" if container.running else "exited",
                           "Status": "Up" if container.running else "Exited (0)", "Image": container.image,
                           "CreatedAt": str(container.created),
                           "Labels": ",".join(f"{k}={v}" for k, v in container.labels.items())})

    def _proxy(self, args):
        if not self.proxy_running:
            return 1, "", "container is not running"
        if args[3] == "persist":
            return 0, "", ""
        if args[3] == "switch":
            return self._switch(*args[4:8])
        line = args[-1]
        if line.startswith("show servers state"):
            return 0, self._show(), ""
        for part in line.split(";"):
            words = shlex.split(part)
            if words[:2] != ["set", "server"] or len(words) < 4:
                return 1, "", f"fake proxy: unknown runtime API line {line!r}"
            slot = self.slots[words[2].split("/")[1]]
            if words[3] == "addr":
                slot.addr = words[4]
            elif words[3] == "state":
                slot.admin = words[4]
                slot.forced_down = False
            elif words[3:] == ["health", "down"]:
                slot.forced_down = slot.admin != "maint"
        return 0, "", ""

    def _switch(self, new: str, old: str, addr: str, port: str):
        """docker/proxy/mlci-proxy.py `switch`: the same runtime-API lines, in the same order, in one call."""
        if self.old_proxy_helper:
            return 2, "", "usage: mlci-proxy start|api|persist|health"
        server = f"model/{new}"
        line = (f"set server {server} state maint; set server {server} addr {addr} port {port}; "
                f"set server {server} state drain; set server {server} health down")
        self._proxy(["", "", "", "api", line])
        if not self._up(self.slots[new]):
            return 3, "pointed\n", f"the proxy's health check never passed for {addr}:{port} in slot {new}"
        if old == "-":
            self._proxy(["", "", "", "api", f"set server {server} state ready"])
            return 0, "pointed\nup\nswitched\npersisted\n", ""
        self._proxy(["", "", "", "api", f"set server {server} state ready; set server model/{old} state drain"])
        self._proxy(["", "", "", "api", f"set server model/{old} state maint"])
        return 0, "pointed\nup\nswitched\ndrained\npersisted\n", ""

    def _container_at(self, addr: str):
        return next((c for c in self.containers.values() if c.running and c.ip == addr),
                    SimpleNamespace(name=f"<{addr}>", running=False))

    def _up(self, slot: Slot) -> bool:
        """A check passed: out of maintenance, at a running container whose own health check passes."""
        if slot.admin == "maint":
            return False
        container = self._container_at(slot.addr)
        return container.running and container.healthy_after >= 0

    def _show(self) -> str:
        state = ["1", "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_port"]
        stat = ["# pxname,svname,scur,qcur,check_status,req_tot"]
        for index, (name, slot) in enumerate(self.slots.items(), start=1):
            state.append(f"4 model {index} {name} {slot.addr} {2 if self._up(slot) else 0} "
                         f"{ADMIN_BITS[slot.admin]} 8000")
            stat.append(f"model,{name},0,0,{'L7OK' if self._up(slot) else 'L4CON'},0")
        return "\n".join(state + [""] + stat + [""])

    def _ip(self) -> str:
        self.next_ip += 1
        return f"172.18.0.{self.next_ip}"
