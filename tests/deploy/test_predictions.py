"""Predictions outlive the releases that answered them, on a real target host: every prediction answered during a
deploy, an upgrade, a rollback and a release stopped under load is in `ci predictions export` afterwards."""

import secrets
import time
from datetime import datetime, timezone

from ci.deploy import plan
from ci.deploy.names import PREDICTIONS_ROLE, ROLE_LABEL
from tests.deploy.conftest import Load, exported_ids


def on_host(engine, target, argv: list[str]) -> str:
    result = engine.containers.get(target.name).exec_run(argv)
    assert result.exit_code == 0, result.output.decode(errors="replace")
    return result.output.decode().strip()


def wait_healthy(engine, target, container: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while engine.containers.get(target.name).exec_run(plan.ready_probe_command(container)).exit_code != 0:
        assert time.monotonic() < deadline, f"{container} did not get healthy again"
        time.sleep(0.3)


def test_every_prediction_answered_by_any_release_is_exported_after_an_upgrade_a_rollback_and_a_stop(
        deploy_environment, variant_image, engine):
    environment = deploy_environment()
    target, url = environment.targets[0], environment.urls[0]
    run = secrets.token_hex(3)
    assert environment.deploy().returncode == 0
    first = environment.ready()["release"]
    # The first release answers until the cutover, the second after it; the first is stopped once it drained.
    with Load(url, phase=f"upgrade-{run}") as upgrade:
        time.sleep(1)
        result = environment.deploy("--image", variant_image("v2", "LABEL test.version=2"))
        time.sleep(1)
    assert result.returncode == 0, result.stderr[-3000:]
    second = environment.ready()["release"]
    assert second != first
    between = datetime.now(timezone.utc)
    # Back to the first release (restarted from its stopped container): the second is stopped after the switch.
    with Load(url, phase=f"rollback-{run}") as rollback:
        time.sleep(1)
        rolled = environment.run("rollback", timeout=300)
        time.sleep(1)
    assert rolled.returncode == 0, rolled.stderr[-3000:]
    assert environment.ready()["release"] == first
    # Stopped the way every deploy stops a release, while clients are still posting: what it answered, it logged.
    container = environment.names.container(first)
    with Load(url, phase=f"stop-{run}") as stopped:
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
