"""ci/deploy/steps.py wait_healthy: a new release counts as healthy as soon as its own check passes, run at once,
without waiting for Docker's next scheduled check (every 5 s: ci/deploy/plan.py run_release_command)."""

from types import SimpleNamespace

import pytest

from ci.deploy import plan
from ci.deploy.names import EnvironmentNames
from ci.deploy.steps import wait_healthy
from ci.errors import CheckFailed


class Host:
    """Docker says `starting` for ever; the release's check passes from its `ready_at`-th run."""

    address = "deploy@10.0.0.5:22"

    def __init__(self, ready_at: int | None):
        self.ready_at, self.probes = ready_at, 0

    def text(self, argv):
        assert argv == plan.health_command("release")
        return "running starting"

    def run(self, argv, check=True):
        if argv == plan.ready_probe_command("release"):
            self.probes += 1
            ready = self.ready_at is not None and self.probes >= self.ready_at
            return SimpleNamespace(returncode=0 if ready else 1, stdout=b"", stderr=b"")
        return SimpleNamespace(returncode=0, stdout=b"log tail", stderr=b"")


def test_the_release_is_healthy_when_its_own_check_passes_before_dockers_next_one():
    host = Host(ready_at=2)
    assert wait_healthy(host, "release", timeout_seconds=30) < 5
    assert host.probes == 2


def test_a_release_whose_check_never_passes_fails_at_the_timeout_naming_it():
    with pytest.raises(CheckFailed, match="release is not healthy \\(running starting\\) after 1s"):
        wait_healthy(Host(ready_at=None), "release", timeout_seconds=1)


def test_the_probe_is_the_images_health_check_and_docker_runs_it_every_five_seconds():
    release = plan.Release("20261203T101500-0c89f6af6c8e", "sha256:0c89f6af6c8e", "", "1.0.0", "c0ffee")
    argv = plan.run_release_command(EnvironmentNames("ml-model-service", "staging", "/var/lib/mlci"), release)
    assert argv[argv.index("--health-cmd") + 1].split() == plan.ready_probe_command("x")[3:]
    assert argv[argv.index("--health-interval") + 1] == "5s"
