"""Traffic on a host: the environment's proxy (created on the first deploy), the switch between its slots, and the
probe that counts every request failing while it switches."""

import threading
import time

import requests

from ci.console import progress
from ci.deploy import proxy
from ci.deploy.names import CONTAINER_PORT, EnvironmentNames
from ci.errors import CannotRun, CheckFailed
from ci.executor.ssh import SshHost


SWITCH_CHECK_SECONDS = 15


class Traffic:
    """The host's proxy: which slot serves, and the switch between slots (see ci/deploy/proxy.py for the procedure)."""

    def __init__(self, host: SshHost, proxy_name: str, network: str, poll_seconds: float = 0.1):
        self.host, self.proxy, self.network, self.poll = host, proxy_name, network, poll_seconds

    def states(self) -> dict[str, dict]:
        return proxy.parse_servers_state(self.host.text(proxy.show_servers_state_command(self.proxy)))

    def slot_serving(self, container: str) -> str:
        """The slot that points at container's IP, or '' when none does."""
        ip = self.host.text(proxy.container_ip_command(container, self.network))
        for slot, state in self.states().items():
            if state["addr"] == ip and state["admin_state"] != "maint":
                return slot
        return ""

    def switch_to(self, container: str, old_slot: str, timeout_seconds: int, drain_seconds: int,
                  check=lambda: None) -> str:
        """Point the idle slot at container, wait for HAProxy's own check to pass, then drain the old slot.
        check() (the abort) is called before the switch starts."""
        new_slot = proxy.other_slot(old_slot) if old_slot else proxy.SLOTS[0]
        ip = self.host.text(proxy.container_ip_command(container, self.network))
        check()
        # One call for every step of the switch (each call costs ~0.1 s on the host): it runs to its end however
        # the deployer ends meanwhile, and an abort undoes after it; so its wait for the check is bounded well
        # inside the ~20 s Jenkins allows after SIGTERM.
        check_seconds = min(timeout_seconds, SWITCH_CHECK_SECONDS)
        result = self.host.run(proxy.switch_command(self.proxy, new_slot, old_slot, ip, CONTAINER_PORT,
                                                    check_seconds, drain_seconds),
                               check=False, timeout=check_seconds + drain_seconds + 60)
        done = result.stdout.decode(errors="replace").split()
        if result.returncode == proxy.SWITCH_UNKNOWN and not done:
            # A proxy started by an older toolkit, whose helper has no `switch`: the same steps, one call each.
            return self._switch_stepwise(new_slot, old_slot, ip, container, timeout_seconds, drain_seconds, check)
        if result.returncode == proxy.SWITCH_CHECK_NEVER_PASSED:
            raise CheckFailed(f"{self.host.address}: the proxy's health check never passed for {container} in slot "
                              f"{new_slot}")
        if result.returncode != 0:
            raise CheckFailed(f"{self.host.address}: the switch to {container} failed after {done or 'nothing'} "
                              f"(exit {result.returncode}): {result.stderr.decode(errors='replace').strip()[-300:]}")
        if "not-drained" in done:
            progress(f"{self.host.address}: slot {old_slot} still had sessions after {drain_seconds}s")
        return new_slot

    def _switch_stepwise(self, new_slot: str, old_slot: str, ip: str, container: str, timeout_seconds: int,
                         drain_seconds: int, check) -> str:
        for command in proxy.point_slot_commands(self.proxy, new_slot, ip, CONTAINER_PORT):
            self.host.run(command)
        self.host.run(proxy.probe_slot_command(self.proxy, new_slot))
        self._wait(lambda states: proxy.slot_is_up(states, new_slot), timeout_seconds,
                   f"the proxy's health check never passed for {container} in slot {new_slot}", check)
        if old_slot:
            self.host.run(proxy.swap_slots_command(self.proxy, new_slot, old_slot))
            try:
                self._wait(lambda states: proxy.slot_is_drained(states, old_slot), drain_seconds, "")
            except CheckFailed:
                progress(f"{self.host.address}: slot {old_slot} still had sessions after {drain_seconds}s")
            self.host.run(proxy.maint_slot_command(self.proxy, old_slot))
        else:
            self.host.run(proxy.ready_slot_command(self.proxy, new_slot))
        self.host.run(proxy.persist_state_command(self.proxy))
        return new_slot

    def take_out(self, slot: str, drain_seconds: int) -> None:
        """The slot takes no new requests; those in flight finish (up to drain_seconds); then maintenance."""
        self.host.run(proxy.drain_slot_command(self.proxy, slot))
        try:
            self._wait(lambda states: proxy.slot_is_drained(states, slot), drain_seconds, "")
        except CheckFailed:
            progress(f"{self.host.address}: slot {slot} still had sessions after {drain_seconds}s")
        self.host.run(proxy.maint_slot_command(self.proxy, slot))
        self.host.run(proxy.persist_state_command(self.proxy))

    def route_back(self, previous_container: str, new_container: str, timeout_seconds: int,
                   drain_seconds: int) -> None:
        """Undo a switch to new_container, whatever part of it was done: previous_container takes the traffic
        again (nothing does when there was no previous), new_container none."""
        states = self.states()
        new_ip = self._ip(new_container)
        new_slots = [slot for slot in proxy.SLOTS
                     if new_ip and states[slot]["addr"] == new_ip and states[slot]["admin_state"] != "maint"]
        if previous_container:
            previous_ip = self._ip(previous_container)
            if not any(states[slot]["addr"] == previous_ip for slot in proxy.serving_slots(states)):
                self.switch_to(previous_container, new_slots[0] if new_slots else "", timeout_seconds,
                               drain_seconds)
                return
        for slot in new_slots:
            self.take_out(slot, drain_seconds)

    def _ip(self, container: str) -> str:
        if not container:
            return ""
        result = self.host.run(proxy.container_ip_command(container, self.network), check=False)
        return result.stdout.decode(errors="replace").strip() if result.returncode == 0 else ""

    def _wait(self, condition, timeout_seconds: float, message: str, check=lambda: None) -> None:
        deadline = time.monotonic() + timeout_seconds
        while True:
            check()
            if condition(self.states()):
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(self.poll)
        raise CheckFailed(f"{self.host.address}: {message or 'timed out'}")


def ensure_proxy(host: SshHost, names: EnvironmentNames, proxy_image_id: str, public_port: int) -> str:
    """The environment's network and proxy container exist and run (created on the first deploy)."""
    from ci.deploy.steps import ensure_image

    name = names.proxy
    if host.run(proxy.network_exists_command(names.network), check=False).returncode != 0:
        host.run(proxy.network_create_command(names.network, names.network_labels()))
    running = host.run(["docker", "inspect", "--format", "{{.State.Running}}", name], check=False)
    if running.returncode == 0 and running.stdout.strip() == b"true":
        return name
    if running.returncode == 0:
        host.run(["docker", "rm", "--force", name])
    ensure_image(host, proxy_image_id, "", "", "stream")
    host.run(proxy.state_dir_command(names.paths.proxy_dir))
    host.run(proxy.proxy_run_command(name, names.proxy_labels(), proxy_image_id, public_port, names.network,
                                     names.paths.proxy_dir))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if host.run(proxy.show_servers_state_command(name), check=False).returncode == 0:
            return name
        time.sleep(0.3)
    raise CannotRun(f"{host.address}: the proxy {name} did not start")


class CutoverProbe:
    """Constant requests to a public URL while traffic switches; every failure is counted (and none may happen)."""

    def __init__(self, url: str, body: bytes, rate: int):
        self.url, self.body, self.interval = url.rstrip("/") + "/predict", body, 1.0 / max(1, rate)
        self.sent = 0
        self.failed = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "CutoverProbe":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        with requests.Session() as session:
            while not self._stop.wait(self.interval):
                self.sent += 1
                try:
                    response = session.post(self.url, data=self.body, timeout=5,
                                            headers={"content-type": "application/json"})
                    if response.status_code != 200:
                        self._fail(f"HTTP {response.status_code}")
                except requests.RequestException as error:
                    self._fail(type(error).__name__)

    def _fail(self, what: str) -> None:
        self.failed += 1
        if len(self.errors) < 10:
            self.errors.append(what)
