"""Predictions outlive the releases that answered them, on a real target host: every prediction answered during a
deploy, an upgrade, a rollback and a release stopped under load is in `ci predictions export` afterwards."""

import json
import secrets
import threading
import time
from datetime import datetime, timezone

import requests

from ci.deploy import plan
from ci.deploy.names import PREDICTIONS_ROLE, ROLE_LABEL
from model_app.dataset import example_request
from tests.toolkit.conftest import run_ci

FIELDS = {"request_id", "created_at", "model_version", "record_count", "inputs", "outputs", "latency_ms"}


class AnsweredLoad:
    """Keep-alive clients posting with their own request ids; remembers every id a release answered with 200."""

    def __init__(self, url: str, phase: str, clients: int = 4):
        self.url, self.phase = url, phase
        self.answered: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._client, args=(number,), daemon=True)
                         for number in range(clients)]

    def __enter__(self) -> "AnsweredLoad":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)

    def _client(self, number: int) -> None:
        body, deadline = example_request(), time.monotonic() + 300
        with requests.Session() as session:
            for sequence in range(10**9):
                if self._stop.is_set() or time.monotonic() > deadline:
                    return
                request_id = f"{self.phase}-{number}-{sequence}"
                try:
                    status = session.post(self.url + "/predict", json=body, timeout=10,
                                          headers={"X-Request-ID": request_id}).status_code
                except requests.RequestException:
                    status = 0
                if status == 200:
                    with self._lock:
                        self.answered.append(request_id)
                time.sleep(0.01)


def on_host(engine, target, argv: list[str]) -> str:
    result = engine.containers.get(target.name).exec_run(argv)
    assert result.exit_code == 0, result.output.decode(errors="replace")
    return result.output.decode().strip()


def wait_healthy(engine, target, container: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while on_host(engine, target, plan.health_command(container)) != "running healthy":
        assert time.monotonic() < deadline, f"{container} did not get healthy again"
        time.sleep(0.3)


def exported_ids(environment, *args: str) -> list[str]:
    result = run_ci(environment.copy, "predictions", "export", "--env", environment.name, *args, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    # The deploy's own probe and smoke test predicted too (batches of 10): every line is a whole prediction.
    assert all(set(line) == FIELDS and line["record_count"] == len(line["inputs"]) == len(line["outputs"])
               for line in lines)
    return [line["request_id"] for line in lines]


def test_every_prediction_answered_by_any_release_is_exported_after_an_upgrade_a_rollback_and_a_stop(
        deploy_environment, variant_image, engine):
    environment = deploy_environment()
    target, url = environment.targets[0], environment.urls[0]
    run = secrets.token_hex(3)
    assert environment.deploy().returncode == 0
    first = environment.ready()["release"]
    # The first release answers until the cutover, the second after it; the first is stopped once it drained.
    with AnsweredLoad(url, f"upgrade-{run}") as upgrade:
        time.sleep(1)
        result = environment.deploy("--image", variant_image("v2", "LABEL test.version=2"))
        time.sleep(1)
    assert result.returncode == 0, result.stderr[-3000:]
    second = environment.ready()["release"]
    assert second != first
    between = datetime.now(timezone.utc)
    # Back to the first release (restarted from its stopped container): the second is stopped after the switch.
    with AnsweredLoad(url, f"rollback-{run}") as rollback:
        time.sleep(1)
        rolled = run_ci(environment.copy, "rollback", "--env", environment.name, timeout=300)
        time.sleep(1)
    assert rolled.returncode == 0, rolled.stderr[-3000:]
    assert environment.ready()["release"] == first
    # Stopped the way every deploy stops a release, while clients are still posting: what it answered, it logged.
    container = environment.names.container(first)
    with AnsweredLoad(url, f"stop-{run}") as stopped:
        time.sleep(1)
        on_host(engine, target, plan.stop_release_command(container))
    on_host(engine, target, ["docker", "start", container])
    wait_healthy(engine, target, container)

    exported = exported_ids(environment)
    answered = upgrade.answered + rollback.answered + stopped.answered
    assert len(upgrade.answered) > 50 and len(rollback.answered) > 20 and len(stopped.answered) > 10
    missing = sorted(set(answered) - set(exported))
    assert missing == [], f"{len(missing)} of {len(answered)} answered predictions are not in the log: {missing[:5]}"
    assert len(exported) == len(set(exported))
    later = set(exported_ids(environment, "--since", between.isoformat()))
    assert set(rollback.answered + stopped.answered) <= later and not later & set(upgrade.answered)
    volumes = on_host(engine, target, ["docker", "volume", "ls", "--filter", f"label={ROLE_LABEL}={PREDICTIONS_ROLE}",
                                       "--format", "{{.Name}}"])
    assert volumes.split() == [environment.names.predictions_volume]
