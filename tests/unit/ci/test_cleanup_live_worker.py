"""`ci cleanup` leaves alone the resources of a run whose detached deploy worker still runs (Jenkins's post cleanup
runs while a worker that outlived an aborted step still rolls back), and only while it runs: a record whose process
is gone, or whose pid now belongs to another process, protects nothing."""

import json
import os
import subprocess
from types import SimpleNamespace

import pytest

from ci.commands import cleanup
from ci.config import Config
from ci.context import Context
from ci.detached_workers import record_path
from ci.executor.process import process_start_time
from ci.identity import BuildIdentity
from ci.test_plan import compose_project_name

RUN = "jenkins-ml-model-main-42"
OTHER_RUN = "local-20260101T000000Z-abc123"


def context(tmp_path, under_jenkins: bool = True) -> Context:
    environ = {"BUILD_TAG": RUN, "BUILD_NUMBER": "42"} if under_jenkins else {}
    ctx = Context(root=tmp_path, config=Config(), environ=environ)
    ctx.__dict__["identity"] = BuildIdentity(commit="0" * 40, branch="main", build_number="42", git_tag="",
                                             dirty=False, run_id=RUN if under_jenkins else OTHER_RUN)
    return ctx


def project_of(ctx, run: str, tier: str = "integration") -> str:
    return compose_project_name(ctx.config.project.name, run, tier)


@pytest.fixture
def engine(monkeypatch):
    """The engine's compose projects, as names; remove_compose_projects removes those `matches` accepts."""
    state = {"projects": [], "removed": []}

    def remove(client, matches):
        state["removed"] = [name for name in state["projects"] if matches(name)]
        return {"containers": list(state["removed"]), "networks": [], "volumes": []}

    monkeypatch.setattr(cleanup.docker_engine, "connect", lambda: None)
    monkeypatch.setattr(cleanup.docker_engine, "remove_compose_projects", remove)
    return state


def write_record(tmp_path, run: str, pid: int, start_time: int | None) -> None:
    path = record_path(tmp_path, {}, run, "deploy")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": pid, "start_time": start_time, "run": run, "command": "deploy"}))


def test_cleanup_skips_this_builds_resources_while_its_detached_worker_runs(tmp_path, engine):
    ctx = context(tmp_path)
    engine["projects"] = [project_of(ctx, RUN)]
    write_record(tmp_path, RUN, os.getpid(), process_start_time(os.getpid()))  # this test process: alive
    outcome = cleanup.run(SimpleNamespace(project=None), ctx)
    assert engine["removed"] == []
    assert outcome.exit_code == 0
    assert f"the detached `ci deploy` of run {RUN} (pid {os.getpid()}) is still running" in outcome.summary
    assert f"left {project_of(ctx, RUN)}" in outcome.summary


def test_cleanup_skips_a_named_project_of_a_live_workers_run_too(tmp_path, engine):
    ctx = context(tmp_path)
    engine["projects"] = [project_of(ctx, RUN)]
    write_record(tmp_path, RUN, os.getpid(), process_start_time(os.getpid()))
    cleanup.run(SimpleNamespace(project=project_of(ctx, RUN)), ctx)
    assert engine["removed"] == []


def test_a_reused_pid_or_an_ended_worker_protects_nothing_and_its_record_goes(tmp_path, engine):
    ctx = context(tmp_path)
    engine["projects"] = [project_of(ctx, RUN)]
    ended = subprocess.Popen(["true"])
    ended.wait()
    write_record(tmp_path, RUN, os.getpid(), process_start_time(os.getpid()) - 1)  # same pid, another process
    write_record(tmp_path, RUN, ended.pid, 12345)
    outcome = cleanup.run(SimpleNamespace(project=None), ctx)
    assert engine["removed"] == [project_of(ctx, RUN)]
    assert "still running" not in outcome.summary
    assert list((tmp_path / "build" / "detached-workers").iterdir()) == []


def test_locally_only_the_live_workers_run_is_left(tmp_path, engine):
    ctx = context(tmp_path, under_jenkins=False)
    live_run, ended_run = "local-20260101T000000Z-aaaaaa", "local-20260101T000000Z-bbbbbb"
    engine["projects"] = [project_of(ctx, live_run), project_of(ctx, ended_run)]
    write_record(tmp_path, live_run, os.getpid(), process_start_time(os.getpid()))
    cleanup.run(SimpleNamespace(project=None), ctx)
    assert engine["removed"] == [project_of(ctx, ended_run)]
