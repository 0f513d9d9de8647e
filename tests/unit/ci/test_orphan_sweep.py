"""Two runs starting at once both sweep what a killed run left (ci/executor/target_host.py
remove_orphaned_target_hosts): the engine refuses the second removal of one container with 409 "removal ... is
already in progress" and the volume with 409 "in use" while the container goes. Neither may fail the run."""

import docker

from ci.executor import target_host
from ci.target_host_plan import OWNER_LABEL


def conflict(message: str) -> docker.errors.APIError:
    response = type("Response", (), {"status_code": 409, "reason": "Conflict", "url": "", "text": message})()
    return docker.errors.APIError(message, response=response, explanation=message)


class BeingRemoved:
    """A container or volume another process is removing right now."""

    def __init__(self, name: str, message: str):
        self.name, self.message = name, message
        self.labels = {OWNER_LABEL: "1:1"}
        self.attrs = {"Labels": self.labels}

    def remove(self, **_):
        raise conflict(self.message)


class Engine:
    def __init__(self):
        self.container = BeingRemoved("mlci-orphan", 'removal of container mlci-orphan is already in progress')
        self.volume = BeingRemoved("mlci-orphan-docker", "remove mlci-orphan-docker: volume is in use")
        self.containers = type("Containers", (), {"list": lambda _, **kw: [self.container],
                                                  "get": lambda _, name: self.container})()
        self.volumes = type("Volumes", (), {"list": lambda _, **kw: [self.volume],
                                            "get": lambda _, name: self.volume})()


def test_a_host_another_run_is_removing_is_left_to_it_and_the_sweep_goes_on(monkeypatch):
    monkeypatch.setattr(target_host.process, "owner_alive", lambda token: False)
    monkeypatch.setattr(target_host, "_remove_empty_cgroups", lambda parent: None)
    assert target_host.remove_orphaned_target_hosts(Engine()) == []
