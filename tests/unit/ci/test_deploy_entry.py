"""`ci deploy` and `ci rollback` under Jenkins run their work outside the build's process tree (argv/env as data),
and `ci deploy` deploys only the release this run built from this work tree's commit."""

import json
from types import SimpleNamespace

import pytest

from ci.commands import deploy, rollback
from ci.config import Config
from ci.context import Context
from ci.errors import CannotRun, UserError
from ci.identity import BuildIdentity

COOKIES = {"JENKINS_SERVER_COOKIE": "durable-5f1d", "JENKINS_NODE_COOKIE": "6f1c0c2e"}
RUN = "jenkins-ml-model-main-42"
BUILT = "0123456789abcdef0123456789abcdef01234567"
NEWER = "fedcba9876543210fedcba9876543210fedcba98"


def deploy_args(**changes):
    fields = dict(env="staging", image=None, approved_by="", dry_run=False, if_configured=False)
    return SimpleNamespace(**{**fields, **changes})


def context(tmp_path, commit: str = BUILT, **environ) -> Context:
    ctx = Context(root=tmp_path, config=Config(), environ={"BUILD_TAG": RUN, "BUILD_NUMBER": "42", **environ})
    ctx.__dict__["identity"] = BuildIdentity(commit=commit, branch="main", build_number="42", git_tag="",
                                             dirty=False, run_id="x")
    ctx.config.environments["staging"] = SimpleNamespace(hosts=["deploy@10.0.0.5"], public_urls=["http://x"],
                                                         local_target=False, public_port=8080,
                                                         database_url_variable="")
    return ctx


@pytest.fixture
def detached(monkeypatch):
    calls = []

    def record(argv, cwd, environ, **handed_over):
        calls.append({"argv": list(argv), "cwd": cwd, "environ": environ, **handed_over})
        return 0

    monkeypatch.setattr(deploy.process, "run_detached", record)
    return calls


def test_under_jenkins_deploy_hands_its_work_to_a_detached_worker(tmp_path, detached):
    ctx = context(tmp_path, **COOKIES)
    outcome = deploy.run(deploy_args(approved_by="rm", image="m:1", if_configured=True), ctx)
    assert outcome.exit_code == 0
    [call] = detached
    assert call["argv"][1:] == ["-m", "ci", "deploy", "--env", "staging", "--image", "m:1", "--approved-by", "rm",
                                "--if-configured"]
    assert call["cwd"] == tmp_path and call["environ"]["JENKINS_NODE_COOKIE"] == "6f1c0c2e"


def test_under_jenkins_rollback_hands_its_work_to_a_detached_worker(tmp_path, detached):
    rollback.run(SimpleNamespace(env="production", release="20260101T000000-abc"), context(tmp_path, **COOKIES))
    assert detached[0]["argv"][1:] == ["-m", "ci", "rollback", "--env", "production", "--to", "20260101T000000-abc"]


@pytest.mark.parametrize("command", ["deploy", "rollback"])
def test_the_worker_gets_copies_of_the_secret_files_and_records_itself_where_new_run_does_not_wipe(
        tmp_path, detached, command):
    ctx = context(tmp_path, **COOKIES)
    if command == "deploy":
        deploy.run(deploy_args(), ctx)
    else:
        rollback.run(SimpleNamespace(env="staging", release=None), ctx)
    [call] = detached
    assert set(call["secret_variables"]) == {"DEPLOY_SSH_KEY_FILE", "DEPLOY_KNOWN_HOSTS_FILE"}
    assert call["record_file"].parent == tmp_path / "build" / "detached-workers"
    assert call["record_facts"] == {"run": "x", "command": command}


def test_the_workers_exit_code_is_the_commands(tmp_path, monkeypatch):
    monkeypatch.setattr(deploy.process, "run_detached", lambda argv, cwd, environ, **handed_over: 1)
    assert deploy.run(deploy_args(), context(tmp_path, **COOKIES)).exit_code == 1


def test_without_the_cookies_deploy_runs_in_this_process(tmp_path, detached):
    with pytest.raises(CannotRun, match="reports/build.json is missing"):
        deploy.run(deploy_args(), context(tmp_path))
    assert detached == []


def test_a_dry_run_is_never_detached(tmp_path, detached):
    with pytest.raises(CannotRun):
        deploy.run(deploy_args(dry_run=True), context(tmp_path, **COOKIES))
    assert detached == []


# ── defect 9's safety net ────────────────────────────────────────────────────────────────────────────────────

def write_build(tmp_path, revision: str, run: str = RUN) -> None:
    (tmp_path / "reports").mkdir(exist_ok=True)
    (tmp_path / "reports" / "build.json").write_text(json.dumps({
        "run": run, "image": "m:1", "revision": revision, "images": {"model": {"image_id": "sha256:1", "labels": {}}}}))


def test_deploy_refuses_when_the_work_tree_is_not_the_commit_this_run_built(tmp_path):
    write_build(tmp_path, BUILT)
    with pytest.raises(UserError) as refused:
        deploy.run(deploy_args(dry_run=True), context(tmp_path, commit=NEWER))
    assert refused.value.exit_code == 2
    assert f"the work tree is at {NEWER[:12]}, but this run built {BUILT[:12]}" in str(refused.value)


def test_deploy_refuses_a_build_report_from_another_run(tmp_path):
    write_build(tmp_path, BUILT, run="jenkins-ml-model-main-41")
    with pytest.raises(UserError) as refused:
        deploy.run(deploy_args(dry_run=True), context(tmp_path))
    assert refused.value.exit_code == 2
    assert "reports/build.json is from run jenkins-ml-model-main-41, not this run" in str(refused.value)


@pytest.mark.parametrize("revision", [BUILT, f"{BUILT}-dirty"])
def test_deploy_goes_ahead_when_the_commits_match(tmp_path, revision):
    write_build(tmp_path, revision)
    assert deploy.run(deploy_args(dry_run=True), context(tmp_path)).exit_code == 0
