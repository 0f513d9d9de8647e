"""One host's deploy or rollback as a sequence of steps; each step registers its undo before it changes anything.

A deploy on a host reads as its steps (ReleaseDeploy.run): proxy → reconcile → image → start → health → switch →
smoke; once every host of the rollout has switched: record (the new `current`) → retire (the previous release stays
running, without traffic, for the grace period, so that a rollback within it is a proxy switch). A rollback
(ReleaseRollback.run) is the same steps with a retained release in place of a new one. Between steps, the abort and
the lock are checked; whatever happens, `roll_back` undoes what was done, newest first.
"""

import os
import signal
from dataclasses import dataclass, field

from ci.console import Stopwatch, progress
from ci.deploy import plan
from ci.deploy.faults import CUT_SECONDS, Fault, InjectedFault
from ci.deploy.names import EnvironmentNames
from ci.deploy.routing import Routing, network_members_command, parse_network_members, routing
from ci.deploy.steps import HostOutcome, ensure_image, wait_healthy
from ci.deploy.traffic import Traffic, ensure_proxy
from ci.deploy.transaction import Abort, Undo
from ci.errors import CannotRun, CheckFailed, UserError
from ci.executor import process


@dataclass
class HostContext:
    """What every step on one host works with."""

    session: object  # ci.executor.ssh.SshHost, or a fake in tests
    outcome: HostOutcome
    names: EnvironmentNames
    settings: object  # ci.config.DeployConfig
    abort: Abort
    lock: object  # ci.deploy.lock.DeployLock
    deploy_id: str = ""
    index: int = 0
    fault: Fault | None = None
    steps_done: list = field(default_factory=list)


class HostChange:
    """What deploy and rollback share: steps, reconcile, health, switch, record, retire and the undo."""

    STEPS = ("lock", "proxy", "reconcile", "image", "target", "start", "health", "switch", "smoke", "record",
             "retire")

    def __init__(self, host: HostContext):
        self.host = host
        self.session, self.outcome, self.names = host.session, host.outcome, host.names
        self.settings = host.settings
        self.undo = Undo()
        self.traffic = Traffic(self.session, self.names.proxy, self.names.network)
        self.routed = Routing("", "")
        self.recorded = ""
        self.release_id = ""

    @property
    def container(self) -> str:
        return self.names.container(self.release_id)

    @property
    def touched(self) -> bool:
        return bool(self.undo)

    # -- the frame of every step --------------------------------------------------------------------------------

    def step(self, name: str, action) -> None:
        self.checkpoint()
        self._inject(name)
        watch = Stopwatch()
        action()
        self.outcome.durations[f"{name}_seconds"] = round(watch.seconds, 2)
        self.host.steps_done.append(name)

    def checkpoint(self) -> None:
        self.host.abort.check()
        self.host.lock.check()

    def _inject(self, step: str) -> None:
        fault = self.host.fault
        if fault is None or not fault.applies(step, self.host.index):
            return
        progress(f"{self.session.address}: fault injection: {fault.action} before {step}")
        if fault.action == "raise":
            raise InjectedFault(f"injected fault before {step}")
        if fault.action == "kill":
            process.kill_self()
        if fault.action == "term":
            os.kill(os.getpid(), signal.SIGTERM)
        if fault.action == "cut":
            self.session.cut(CUT_SECONDS)

    # -- steps ----------------------------------------------------------------------------------------------------

    def acquire_lock(self) -> None:
        self.host.lock.acquire(interrupted=self.host.abort.check)
        self.outcome.lock_token = self.host.lock.token

    def reconcile(self) -> None:
        """Plan from what the proxy routes, not from the record alone; strays of a half-done switch drained."""
        self.recorded = self.session.text(plan.read_current_command(self.names.paths))
        members = parse_network_members(self.session.text(network_members_command(self.names.network)),
                                        self.names.prefix)
        self.routed = routing(self.traffic.states(), members, self.recorded)
        if self.routed.note:
            progress(f"{self.session.address}: {self.routed.note}")
            self.outcome.notes.append(self.routed.note)
        for slot in self.routed.strays:
            self.traffic.take_out(slot, self.settings.drain_seconds)
        self.outcome.previous = self.routed.release

    def wait_healthy(self) -> None:
        seconds = wait_healthy(self.session, self.container, self.settings.health_timeout_seconds, self.checkpoint)
        self.outcome.durations["healthy_after_seconds"] = round(seconds, 2)

    def switch(self) -> None:
        previous_container = self.names.container(self.routed.release)
        container = self.container
        progress(f"{self.session.address}: switching traffic from {self.routed.release or 'nothing'} to "
                 f"{self.release_id}")
        self.undo.push("switch back", lambda: self.traffic.route_back(
            previous_container, container, self.settings.health_timeout_seconds, self.settings.drain_seconds))
        self.traffic.switch_to(container, self.routed.slot, self.settings.health_timeout_seconds,
                               self.settings.drain_seconds, self.checkpoint)
        self.outcome.result = "switched"

    def record(self) -> None:
        previous = self.recorded
        self.undo.push("record", lambda: self.session.run(plan.write_current_command(self.names.paths, previous)))
        self.session.run(plan.write_current_command(self.names.paths, self.release_id))

    def retire(self) -> None:
        """Keep the release that served before running for the grace period (an instant rollback), stop any other
        release still running, and remove releases beyond those kept."""
        releases = plan.parse_releases(self.session.text(plan.list_releases_command(self.names)), self.names.env)
        keep_running = {self.release_id, self.routed.release}
        grace = self.settings.rollback_grace_seconds
        for release in releases:
            if release["release"] in keep_running or release["state"] != "running":
                continue
            self.session.run(plan.stop_release_command(release["container"]), check=False)
        if self.routed.release and self.routed.release != self.release_id:
            previous = self.names.container(self.routed.release)
            if grace > 0:
                self.session.run(plan.stop_after_grace_command(self.names, self.routed.release, grace,
                                                               self.host.deploy_id))
            else:
                self.session.run(plan.stop_release_command(previous), check=False)
        for old in plan.releases_to_remove(releases, self.release_id, self.settings.keep_releases,
                                           also_keep=self.routed.release):
            self.session.run(["docker", "rm", "--force", old["container"]], check=False)
            self.session.run(["docker", "image", "rm", old["image"]], check=False)
        self.outcome.result = "success"

    # -- undo -----------------------------------------------------------------------------------------------------

    def roll_back(self, reason: str) -> None:
        """Undo everything this host did, newest first; the outcome says what really happened. A host whose lock
        was lost is left alone: another deploy holds it now, and reconciles it as it starts."""
        if self.undo and getattr(self.host.lock, "lost", False):
            self.outcome.result = "lock lost"
            self.outcome.reason = f"{reason}; not undone: {self.host.lock.lost_reason} (its holder reconciles it)"
            return
        if not self.undo:
            if self.outcome.result == "pending":
                self.outcome.result, self.outcome.reason = "not deployed", reason
            return
        watch = Stopwatch()
        failures = self.undo.run()
        self.outcome.durations["rollback_seconds"] = round(watch.seconds, 2)
        if failures:
            self.outcome.result = "rollback failed"
            self.outcome.reason = f"{reason}; could not undo: {'; '.join(failures)}"
        else:
            self.outcome.result, self.outcome.reason = "rolled back", reason


class ReleaseDeploy(HostChange):
    """A new release onto one host."""

    def __init__(self, host: HostContext, release: plan.Release, source: dict, proxy_image_id: str,
                 environment, store, probe, smoke):
        super().__init__(host)
        self.release, self.source, self.proxy_image_id, self.environment = release, source, proxy_image_id, environment
        self.store = store  # where the release keeps its predictions (ci/deploy/predictions.py)
        self.release_id = release.release_id
        self.outcome.release = release.release_id
        self.probe_factory, self.smoke_runner = probe, smoke
        self.probe = None

    def run(self) -> None:
        self.step("proxy", self.ensure_proxy)
        self.step("reconcile", self.reconcile)
        self.step("image", self.get_image)
        self.step("start", self.start_release)
        self.step("health", self.wait_healthy)
        self.step("switch", self.switch_under_probe)
        self.step("smoke", self.smoke_test)

    def ensure_proxy(self) -> None:
        ensure_proxy(self.session, self.names, self.proxy_image_id, self.environment.public_port)

    def get_image(self) -> None:
        progress(f"{self.session.address}: getting image {self.release.image_id[:19]} onto the host")
        self.outcome.transfer = ensure_image(self.session, self.release.image_id, self.source["pull_reference"],
                                             self.source["registry"], self.environment.image_transfer)

    def start_release(self) -> None:
        container = self.container
        if self.release_id in (self.routed.release, self.recorded):
            # Same image, same second: its container is the one serving; removing it to start "again" would not do.
            raise CannotRun(f"{self.session.address}: release {self.release_id} already serves here")
        progress(f"{self.session.address}: starting {container} beside {self.routed.release or 'no release'}")
        # Undone by a stop before the removal: a release that answered requests drains its prediction queue first.
        self.undo.push("start", lambda: [self.session.run(command, check=False)
                                         for command in plan.remove_release_commands(container)])
        self.session.run(["docker", "rm", "--force", container], check=False)
        # Checked by `ci deploy` before any host was touched; here it only builds the arguments.
        limits = plan.ReleaseLimits.from_settings(self.settings)
        self.session.run(plan.run_release_command(self.names, self.release, self.store, limits),
                         input_bytes=self.store.run_input())

    def switch_under_probe(self) -> None:
        """The probe counts every failed request from just before the switch (or, for a first release, from the
        moment traffic has somewhere to go) to the end of the smoke test."""
        self.undo.push("probe", self._stop_probe)
        if self.routed.release:
            self.probe = self.probe_factory(self.outcome.public_url)
            self.switch()
        else:
            self.switch()
            self.probe = self.probe_factory(self.outcome.public_url)

    def smoke_test(self) -> None:
        problem = self.smoke_runner(self.outcome.public_url, self.host.abort.is_set)
        probe = self._stop_probe()
        if problem or (probe and probe.failed):
            reason = problem or f"{probe.failed} of {probe.sent} requests failed during cutover ({probe.errors})"
            raise CheckFailed(f"{self.session.address}: {reason}")

    def _stop_probe(self):
        probe, self.probe = self.probe, None
        if probe is not None:
            probe.stop()
            self.outcome.durations["failed_requests"] = probe.failed
            self.outcome.durations["probe_requests"] = probe.sent
        return probe


class ReleaseRollback(HostChange):
    """Back to a retained release on one host: the deploy's steps, with that release in place of a new one."""

    def __init__(self, host: HostContext, wanted: str | None, choose):
        super().__init__(host)
        self.wanted, self.choose = wanted, choose
        self.target: dict = {}

    def run(self) -> None:
        self.step("reconcile", self.reconcile)
        self.step("target", self.choose_target)
        self.step("start", self.start_retained)
        self.step("health", self.wait_healthy)
        self.step("switch", self.switch)

    def choose_target(self) -> None:
        if not self.routed.release and not self.recorded:
            raise CannotRun("nothing has been deployed here: there is no release to roll back from")
        releases = plan.parse_releases(self.session.text(plan.list_releases_command(self.names)), self.names.env)
        self.target = self.choose(releases, self.routed.release or self.recorded, self.wanted)
        self.release_id = self.outcome.release = self.target["release"]
        progress(f"{self.session.address}: returning to {self.release_id} "
                 f"(from {self.routed.release or 'nothing'}; {self.target['state']})")

    def start_retained(self) -> None:
        if self.target["state"] == "running":
            return
        container = self.container
        self.undo.push("start", lambda: self.session.run(plan.stop_release_command(container), check=False))
        self.session.run(["docker", "start", container])


def unexpected(error: BaseException) -> UserError:
    """Any failure as the one-line error the command ends with (an unforeseen one named by its type)."""
    if isinstance(error, UserError):
        return error
    if isinstance(error, KeyboardInterrupt):
        return CannotRun("interrupted")
    return CannotRun(f"unexpected {type(error).__name__}: {error}")
