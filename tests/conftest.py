"""Shared by every tier: a switch that makes a tier fail on purpose, to prove failures are reported and cleaned up;
and, where tests run in parallel processes (pytest-xdist, the host tier), what may run apart from what."""

import contextlib
import fcntl
import os
from pathlib import Path

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


# Tests that remove an image every other test uses (the model image, to pull it back by digest): while one runs,
# no other test runs in any process of the session (a deploy streaming that image would fail).
RUNS_ALONE = ("tests/toolkit/test_push_and_images.py::"
              "test_push_then_pull_by_digest_gives_the_same_runnable_labelled_image",)


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


@contextlib.contextmanager
def engine_lock(directory: Path, alone: bool):
    """Shared by every test, exclusive for one that must run alone. The exclusive one holds the turnstile while it
    waits, so tests starting meanwhile wait behind it instead of keeping it out for ever."""
    with open(directory / "engine.turnstile", "a") as turnstile, open(directory / "engine.lock", "a") as lock:
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        finally:
            if not alone:
                fcntl.flock(turnstile, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            if alone:
                fcntl.flock(turnstile, fcntl.LOCK_UN)


@pytest.fixture(autouse=True)
def _alone_when_it_must(request, tmp_path_factory):
    if not os.environ.get("PYTEST_XDIST_WORKER"):  # one process: every test runs alone anyway
        yield
        return
    # The workers' base temporary directories share a parent that belongs to this session.
    with engine_lock(tmp_path_factory.getbasetemp().parent, request.node.nodeid in RUNS_ALONE):
        yield


@pytest.fixture(autouse=True)
def _fail_on_purpose_when_asked():
    if os.environ.get("FORCE_TEST_FAILURE"):
        pytest.fail("FORCE_TEST_FAILURE is set: this tier fails on purpose")
