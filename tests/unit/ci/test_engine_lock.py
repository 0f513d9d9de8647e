"""The lock that lets a host-tier test run alone across pytest-xdist processes (tests/conftest.py)."""

import threading
import time

from tests.conftest import RUNS_ALONE, engine_lock, unit_of_work


def test_a_test_that_must_run_alone_waits_for_the_running_ones_and_holds_back_those_that_start_meanwhile(tmp_path):
    events = []

    def run(name: str, alone: bool, seconds: float) -> None:
        with engine_lock(tmp_path, alone):
            events.append(f"{name} in")
            time.sleep(seconds)
            events.append(f"{name} out")

    first = threading.Thread(target=run, args=("first", False, 0.5))
    alone = threading.Thread(target=run, args=("alone", True, 0.1))
    later = threading.Thread(target=run, args=("later", False, 0.05))
    first.start()
    time.sleep(0.1)
    alone.start()
    time.sleep(0.1)
    later.start()
    for thread in (first, alone, later):
        thread.join(timeout=10)
    assert events == ["first in", "first out", "alone in", "alone out", "later in", "later out"]


def test_deploy_scenarios_are_units_of_their_own_and_other_modules_stay_together():
    assert unit_of_work("tests/deploy/test_deploy.py::test_x") == "tests/deploy/test_deploy.py::test_x"
    assert unit_of_work("tests/toolkit/test_proxy_switch.py::test_y[a]") == "tests/toolkit/test_proxy_switch.py"
    assert unit_of_work("tests/toolkit/test_jenkinsfile.py::test_z") == unit_of_work(
        "tests/toolkit/test_jenkinsfile_semantics.py::test_w") == "jenkinsfile"
    assert all(nodeid.startswith("tests/") for nodeid in RUNS_ALONE)
