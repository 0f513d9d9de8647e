"""Shared by every tier: a switch that makes a tier fail on purpose, to prove failures are reported and cleaned up;
and, where tests run in parallel processes (pytest-xdist, the host tier), what may run apart from what."""

import os
import signal
import threading

import pytest

# Modules whose every test sets up all it uses (its own repository copy, environment or stack; no module fixture,
# no test that follows another), slowest first: under `--dist loadscope` each of their tests is a unit of work of its
# own, handed out before the rest, so that the long ones spread over the workers and the short ones fill the end.
INDEPENDENT_MODULES = ("tests/deploy/test_deploy.py", "tests/toolkit/test_benchmarks_smoke.py",
                       "tests/toolkit/test_pipeline_command.py", "tests/toolkit/test_test_command.py")
# Every other module is one unit (its tests stay together on one worker, in order); modules that share a costly
# session fixture share a unit: one JVM answers every Jenkinsfile check of a process (jenkinsfile_check).
SHARED_UNITS = {
    "tests/toolkit/test_jenkinsfile.py": "jenkinsfile",
    "tests/toolkit/test_jenkinsfile_semantics.py": "jenkinsfile",
}


def module_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def unit_of_work(nodeid: str) -> str:
    """What runs on one worker together with this test under `--dist loadscope`."""
    module = module_of(nodeid)
    return nodeid if module in INDEPENDENT_MODULES else SHARED_UNITS.get(module, module)


def pytest_collection_modifyitems(items):
    """The independent modules' tests first, in the order above (xdist hands units out in collection order)."""
    rank = {module: index for index, module in enumerate(INDEPENDENT_MODULES)}
    items.sort(key=lambda item: rank.get(module_of(item.nodeid), len(rank)))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getoption("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class UnitScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return unit_of_work(nodeid)

    return UnitScheduling(config, log)


def _terminated(signum, frame):
    raise KeyboardInterrupt


def pytest_configure(config):
    # SIGTERM (a Jenkins abort, a CI machine stopping, `timeout`) ends pytest as Ctrl-C does: the fixtures' teardown
    # runs and removes the stacks, hosts and images the tests started. Without this, pytest dies at once and leaves
    # them (a next run still removes target hosts whose owner is gone: ci/executor/target_host.py).
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminated)


@pytest.fixture(autouse=True)
def _fail_on_purpose_when_asked():
    if os.environ.get("FORCE_TEST_FAILURE"):
        pytest.fail("FORCE_TEST_FAILURE is set: this tier fails on purpose")
