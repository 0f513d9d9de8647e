"""`python -m ci jenkins` against the Jenkins stand-in (tests/jenkins_standin.py) on loopback: no Jenkins needed."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from ci.__main__ import main
from ci.executor.jenkins import JenkinsSession
from ci.jenkins.connection import connection_from
from ci.jenkins.job_xml import TAG_DISCOVERY, owned_view
from ci.jenkins.paths import JobRef
from tests.jenkins_standin import BuildScript, Input, JenkinsStandIn
from tests.jenkins_standin_state import (INPUT_STEP_BEFORE_FIX, INPUT_STEP_FIXED, INPUT_STEP_NO_EXPORT,
                                         JENKINS_BEFORE_2_524, JENKINS_SINCE_2_524)

REPOSITORY_ROOT = Path(__file__).resolve().parents[3]
JOB = "ml-model-service"
# The release branch's job inside the multibranch project, as the stand-in keys it (project, item name).
MAIN = (JOB, "main")
TOKENS = {"alice": "alice-api-token-0a1b2c", "bob": "bob-api-token-3d4e5f", "root": "root-api-token-6a7b8c",
          "carol": "carol-api-token-9d0e1f"}
GROUPS = {"release-managers": {"alice"}}
SCM_URL = "https://git.example.com/ml/ml-model-service.git"
FAST = ("--poll", "0.05", "--timeout", "20")
# As the Jenkinsfile asks: `input id: 'approve-deploy'`, which Jenkins names Approve-deploy.
APPROVAL = Input("Approve-deploy", "Deploy this release?", "Deploy")
EVIDENCE = ("reports/acceptance/gates.json", "reports/unit/junit.xml", "build/model/model.onnx")


@dataclass(frozen=True)
class Run:
    exit_code: int
    out: str
    err: str

    @property
    def summary(self) -> str:
        return self.err.strip().splitlines()[-1]


@pytest.fixture(params=[INPUT_STEP_BEFORE_FIX, INPUT_STEP_FIXED], ids=["input-step-527", "input-step-532"])
def input_step_version(request):
    return request.param


@pytest.fixture(params=[JENKINS_BEFORE_2_524, JENKINS_SINCE_2_524], ids=["core-2.462", "core-2.528"])
def jenkins_version(request):
    return request.param


@pytest.fixture
def standin(request):
    # Versions where a test asks for them (the fixtures above); else a current input step on an older core.
    input_step = request.getfixturevalue("input_step_version") if "input_step_version" in request.fixturenames \
        else INPUT_STEP_FIXED
    core = request.getfixturevalue("jenkins_version") if "jenkins_version" in request.fixturenames \
        else JENKINS_BEFORE_2_524
    server = JenkinsStandIn(TOKENS, GROUPS, jenkins_version=core, input_step_version=input_step,
                            admins={"root"}, cancellers={"carol"}).start()
    request.addfinalizer(server.stop)
    return server


@pytest.fixture
def ci(standin, monkeypatch, capsys):
    """Runs `python -m ci jenkins ...` in this process, as JENKINS_USER `user`."""
    for variable in ("JENKINS_TLS_VERIFY", "MLCI_CONFIG_FILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("JENKINS_URL", standin.url)
    monkeypatch.setenv("MLCI_JENKINS_SCM_URL", SCM_URL)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")

    def run(*args: str, user: str = "alice", token: str | None = None) -> Run:
        monkeypatch.setenv("JENKINS_USER", user)
        monkeypatch.setenv("JENKINS_API_TOKEN", token or TOKENS[user])
        sigterm = signal.getsignal(signal.SIGTERM)
        try:
            exit_code = main(["jenkins", *args])
        finally:
            signal.signal(signal.SIGTERM, sigterm)
        captured = capsys.readouterr()
        return Run(exit_code, captured.out, captured.err)
    return run


def run_ci_process(*args: str, environ: dict[str, str]) -> subprocess.CompletedProcess:
    # Nothing of this machine's Jenkins, configuration or CA bundle settings leaks in; loopback never via a proxy.
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("JENKINS_", "MLCI_")) and name not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
    env.update(NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    return subprocess.run([sys.executable, "-m", "ci", "jenkins", *args], cwd=REPOSITORY_ROOT, env={**env, **environ},
                          capture_output=True, text=True, timeout=60)


def waiting_build(standin: JenkinsStandIn, job: tuple = MAIN) -> int:
    standin.add_branch(job[0], job[1])
    build = standin.start_build_now(job, BuildScript(steps=["[Pipeline] stage (Acceptance)\n", APPROVAL,
                                                            "[Pipeline] stage (Deploy)\n"], artifacts=EVIDENCE))
    standin.wait_for_input(job, build.number)
    return build.number


def jenkins_resaves(standin: JenkinsStandIn) -> None:
    """As Jenkins does when it loads and saves the job again (a restart, a scan, a save in the UI)."""
    from tests.jenkins_standin_state import as_jenkins_stores_it
    standin.set_config(JOB, as_jenkins_stores_it(standin.config(JOB)))


def test_sync_job_creates_a_multibranch_job_then_leaves_it_unchanged_then_updates_it_with_a_diff(ci, standin):
    created = ci("sync-job")
    assert created.exit_code == 0, created.err
    assert f"job {JOB} created: Multibranch Pipeline of {SCM_URL}" in created.summary
    stored = standin.config(JOB)
    assert stored.startswith("<?xml version='1.1'")
    assert "org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject plugin=" in stored

    unchanged = ci("sync-job")
    assert unchanged.exit_code == 0 and f"job {JOB} unchanged" in unchanged.summary
    assert [record.path for record in standin.requests if record.method == "POST"] == ["/createItem"]

    standin.set_config(JOB, stored.replace("<interval>300000</interval>", "<interval>86400000</interval>"))
    updated = ci("sync-job")
    assert updated.exit_code == 0 and f"job {JOB} updated" in updated.summary
    assert f"--- {JOB} (in Jenkins)" in updated.err
    assert "-      <interval>86400000</interval>" in updated.err
    assert "+      <interval>300000</interval>" in updated.err
    assert "<interval>300000</interval>" in standin.config(JOB)
    assert ci("sync-job").summary.startswith(f"[PASS] ci jenkins: job {JOB} unchanged")


def test_after_jenkins_resaves_the_job_sync_job_still_sees_it_unchanged_and_keeps_the_source_id(ci, standin):
    assert ci("sync-job").exit_code == 0
    # What Jenkins adds when it loads and saves a multibranch project: views, health metrics, icon, owner
    # references, the branch property strategy, plugin versions; and an id it chose for a source sent without one.
    # A source with a blank id gets "1" (branch-api MultiBranchProject.buildSourceMap), as a hand-made job has.
    standin.set_config(JOB, standin.config(JOB).replace("<id>ml-model-service-git</id>", "<id></id>"))
    jenkins_resaves(standin)
    stored = standin.config(JOB)
    for added in ("<folderViews", "<healthMetrics>", "<icon", "DefaultBranchPropertyStrategy", 'plugin="git@'):
        assert added in stored
    run = ci("sync-job")
    assert run.exit_code == 0 and f"job {JOB} unchanged" in run.summary, run.err

    standin.set_config(JOB, stored.replace("<scriptPath>Jenkinsfile</scriptPath>",
                                           "<scriptPath>ci/Jenkinsfile</scriptPath>"))
    updated = ci("sync-job")
    assert "updated" in updated.summary
    assert "-    <scriptPath>ci/Jenkinsfile</scriptPath>" in updated.err
    changed = [line for line in updated.err.splitlines() if line.startswith(("-", "+"))
               and not line.startswith(("---", "+++"))]
    assert len(changed) == 2, changed
    # The source keeps the id Jenkins gave it: its branch jobs belong to it.
    assert "<id>1</id>" in standin.config(JOB)
    assert "<folderViews" in standin.config(JOB)


def test_sync_job_refuses_to_turn_a_plain_pipeline_job_into_a_multibranch_one(ci, standin):
    standin.add_job(JOB, "<flow-definition><definition/></flow-definition>")
    run = ci("sync-job")
    assert run.exit_code == 2
    assert "is a plain Pipeline job (<flow-definition>), not a Multibranch Pipeline" in run.summary
    assert [record for record in standin.requests if record.method == "POST"] == []


def test_sync_job_gives_the_webhook_with_its_token(ci, standin):
    run = ci("sync-job")
    assert f"{standin.url}git/notifyCommit?url=https%3A%2F%2Fgit.example.com%2Fml%2Fml-model-service.git" \
           f"&token=<token>" in run.err
    assert "Git plugin notifyCommit access tokens" in run.err


def test_sync_job_dry_run_changes_nothing(ci, standin):
    result = ci("sync-job", "--dry-run")
    assert result.exit_code == 0 and "would be created" in result.summary
    assert "<scriptPath>Jenkinsfile</scriptPath>" in result.err
    assert (JOB,) not in standin.items


def test_sync_job_without_an_scm_url_names_the_key_and_sends_nothing(ci, standin, monkeypatch):
    monkeypatch.delenv("MLCI_JENKINS_SCM_URL")
    result = ci("sync-job")
    assert result.exit_code == 2
    assert "jenkins.scm_url is not set" in result.summary
    assert standin.requests == []


MAIN_URL = f"job/{JOB}/job/main/"


@pytest.mark.parametrize("result, exit_code", [("SUCCESS", 0), ("UNSTABLE", 1), ("FAILURE", 1), ("ABORTED", 130)])
def test_trigger_wait_streams_the_console_in_pieces_and_exits_with_the_build_result(ci, standin, result, exit_code):
    standin.add_branch(JOB, "main", parameters=["RELEASE"])
    steps = ["Started by user alice\n", "[Pipeline] stage (Lint)\n", "[Pipeline] stage (Unit) ✓\n",
             "[Pipeline] stage (Build)\n"]
    standin.script_next_builds(MAIN, BuildScript(steps=steps, result=result))
    run = ci("trigger", "--wait", "--param", "RELEASE=1.4.0", *FAST)
    assert run.exit_code == exit_code, run.err
    assert run.out == "".join(steps) + f"Finished: {result}\n"
    assert f"build #1 {result}" in run.summary
    # Several answers carried text, the first while the build was still running; each request started where
    # the previous answer's X-Text-Size said.
    with_text = [answer for answer in standin.console_answers if answer[1]]
    assert len(with_text) > 1 and with_text[0][2] is True
    starts = [start for start, _, _ in standin.console_answers]
    assert starts == [0] + [start + size for start, size, _ in standin.console_answers[:-1]]
    assert standin.build(MAIN, 1).parameters == {"RELEASE": "1.4.0"}
    assert any(record.path == f"/{MAIN_URL}buildWithParameters" for record in standin.requests)


def test_console_text_is_written_while_the_build_runs_not_at_its_end(standin):
    standin.add_branch(JOB, "main")
    build = standin.start_build_now(MAIN, BuildScript(steps=[f"line {index}\n" for index in range(5)]))
    session = JenkinsSession(connection_from({"JENKINS_URL": standin.url, "JENKINS_USER": "alice",
                                              "JENKINS_API_TOKEN": TOKENS["alice"]}))
    written: list[tuple[str, bool]] = []
    followed = session.follow_console(JobRef(MAIN, f"{JOB}/main"), build.number,
                                      lambda text: written.append((text, build.building)),
                                      poll_seconds=0.02, deadline=time.monotonic() + 20)
    assert followed
    assert len(written) > 1 and written[0][1] is True
    assert "".join(text for text, _ in written) == build.text


def test_trigger_without_wait_reports_the_build_of_the_release_branch_job(ci, standin):
    standin.add_branch(JOB, "main")
    run = ci("trigger", *FAST)
    assert run.exit_code == 0
    assert f"build #1 of {JOB}/main started: {standin.url}{MAIN_URL}1/" in run.summary
    assert any(record.path == f"/{MAIN_URL}build" for record in standin.requests)


def test_trigger_reaches_a_branch_whose_name_has_a_slash_as_branch_api_names_its_job(ci, standin):
    # NameEncoder: the job of branch feature/x is the item feature%2Fx, which a URL spells feature%252Fx.
    job = standin.add_branch(JOB, "feature/x")
    run = ci("trigger", "--branch", "feature/x", *FAST)
    assert run.exit_code == 0, run.err
    assert job == (JOB, "feature%2Fx")
    assert f"build #1 of {JOB}/feature/x started: {standin.url}job/{JOB}/job/feature%252Fx/1/" in run.summary


def test_trigger_of_a_branch_the_project_has_no_job_for_says_so(ci, standin):
    standin.add_branch(JOB, "main")
    run = ci("trigger", "--branch", "release/9", *FAST)
    assert run.exit_code == 2
    assert f"has no job {JOB}/release/9 (is that branch or tag pushed?" in run.summary


def test_trigger_param_on_a_job_without_parameters_is_refused_before_jenkins_is_asked(ci, standin, jenkins_version):
    standin.add_branch(JOB, "main")
    run = ci("trigger", "--param", "RELEASE=1.4.0", *FAST)
    assert run.exit_code == 2
    assert f"job {JOB}/main declares no parameters, so --param cannot be passed" in run.summary
    assert not any(record.method == "POST" for record in standin.requests)


def test_the_standin_refuses_build_with_parameters_for_a_job_without_parameters_as_jenkins_does(
        standin, jenkins_version):
    standin.add_branch(JOB, "main")
    session = requests.Session()
    session.auth = ("alice", TOKENS["alice"])
    crumb = session.get(f"{standin.url}crumbIssuer/api/json", timeout=10).json()["crumb"]
    answer = session.post(f"{standin.url}{MAIN_URL}buildWithParameters", data={"RELEASE": "1"},
                          headers={"Jenkins-Crumb": crumb}, timeout=10)
    if jenkins_version == JENKINS_BEFORE_2_524:
        assert answer.status_code == 500 and "This build is not parameterized!" in answer.text
    else:
        assert answer.status_code == 400 and f"{JOB}/main is not parameterized" in answer.text


def test_trigger_param_names_what_the_job_accepts(ci, standin):
    standin.add_branch(JOB, "main", parameters=["RELEASE", "NOTES"])
    run = ci("trigger", "--param", "VERSION=2", *FAST)
    assert run.exit_code == 2
    assert f"job {JOB}/main has no parameter VERSION; it accepts RELEASE, NOTES" in run.summary


def test_a_cancelled_queue_item_is_a_clear_error_with_exit_3(ci, standin):
    standin.add_branch(JOB, "main")
    standin.script_next_builds(MAIN, BuildScript(cancelled_in_queue=True))
    run = ci("trigger", "--wait", *FAST)
    assert run.exit_code == 3
    assert f"queue item 1 of {JOB}/main was cancelled before it started a build" in run.summary


def test_waiting_longer_than_the_timeout_stops_following_with_exit_3(ci, standin):
    standin.add_branch(JOB, "main")
    standin.script_next_builds(MAIN, BuildScript(steps=["waiting\n", APPROVAL]))
    run = ci("trigger", "--wait", "--poll", "0.05", "--timeout", "1")
    assert run.exit_code == 3
    assert "was still running after 1s; it goes on in Jenkins" in run.summary


def test_a_tag_job_with_no_build_says_why_and_trigger_builds_it(ci, standin):
    # TagBuildStrategyImpl measures a tag's age from its tagged commit's commit time (git-plugin
    # AbstractGitSCMSource.discoverTags), so a tag on an older commit gets a job but no build.
    tag = standin.add_branch(JOB, "v1.2.3", tag=True)
    status = ci("status", "--branch", "v1.2.3")
    assert status.exit_code == 0
    assert "tag v1.2.3 was not built automatically" in status.summary
    assert "tagged commit's commit time" in status.summary and "7 days" in status.summary
    assert "python3 -m ci jenkins trigger --branch v1.2.3" in status.summary
    run = ci("trigger", "--branch", "v1.2.3", "--wait", *FAST)
    assert run.exit_code == 0, run.err
    assert "tag v1.2.3 was not built automatically" in run.err
    assert f"{JOB}/v1.2.3 build #1 SUCCESS" in run.summary and len(standin.items[tag].builds) == 1
    # A branch job without builds is only that.
    standin.add_branch(JOB, "main")
    assert_no_builds_and_not_a_tag(ci("status"))


def test_status_and_logs_of_the_last_build(ci, standin):
    standin.add_branch(JOB, "main")
    assert "has no builds yet" in ci("status").summary
    assert ci("trigger", "--wait", *FAST).exit_code == 0
    status = ci("status")
    assert status.exit_code == 0
    assert f"build     #1 of {JOB}/main" in status.err and "result    SUCCESS" in status.err
    assert "duration  " in status.err and f"url       {standin.url}{MAIN_URL}1/" in status.err
    logs = ci("logs")
    assert logs.exit_code == 0 and logs.out == standin.build(MAIN, 1).text
    missing = ci("logs", "--build", "99")
    assert missing.exit_code == 2 and f"has no build #99 of {JOB}/main" in missing.summary


def test_logs_follow_a_running_build_to_its_end(ci, standin):
    number = waiting_build(standin)
    standin.build(MAIN, number).settle("alice", approve=True)
    run = ci("logs", "--follow", *FAST)
    assert run.exit_code == 0
    assert run.out.endswith("[Pipeline] stage (Deploy)\nFinished: SUCCESS\n")


def test_pending_lists_the_input_from_the_input_steps_own_rest_data_without_stage_view(ci, standin):
    number = waiting_build(standin)
    tag_number = waiting_build(standin, (JOB, "v1.4.0"))
    run = ci("pending")
    assert run.exit_code == 0, run.err
    build_url = f"{standin.url}{MAIN_URL}{number}/"
    assert f"build #{number} of {JOB}/main: {build_url}" in run.err
    assert f"build #{tag_number} of {JOB}/v1.4.0: " in run.err
    assert "input Approve-deploy: Deploy this release? [Deploy] (submitters: release-managers)" in run.err
    assert f"approve --branch v1.4.0 --build {tag_number} --input Approve-deploy" in run.err
    assert f"{build_url}artifact/reports/acceptance/gates.json" in run.err
    assert f"{build_url}artifact/reports/unit/junit.xml" in run.err
    assert "model.onnx" not in run.err
    assert "2 input(s) waiting in 2 build(s)" in run.summary
    # Nothing asked the Stage View plugin, which this Jenkins (like a default one) does not have.
    assert not any("/wfapi/" in record.path for record in standin.requests)


def test_pending_on_an_input_step_too_old_to_show_its_inputs_says_it_cannot_tell(ci, standin):
    standin.input_step_version = INPUT_STEP_NO_EXPORT
    standin.facts.plugins = {"pipeline-input-step": (INPUT_STEP_NO_EXPORT, True)}
    number = waiting_build(standin)
    # Before 466 the InputAction is no @ExportedBean: Stapler writes it as {} with no _class.
    assert {} in standin.build(MAIN, number).as_json(INPUT_STEP_NO_EXPORT)["actions"]
    cannot_tell = ("cannot tell: pipeline-input-step older than 466.v6d0a_5df34f81 shows no pending input; name the "
                   "input with --build and --input, or update the plugin")
    # Whoever may read the plugin list (Overall/SystemRead) is told that the plugin is too old to show the input.
    for args in (("pending",), ("approve", "--build", str(number))):
        run = ci(*args, user="root")
        assert run.exit_code == 3, run.err
        assert cannot_tell in run.summary and INPUT_STEP_NO_EXPORT in run.summary
        assert "nothing" not in run.summary and "no build" not in run.summary
    # Anyone else cannot tell an old input step from a build's other unexported actions: the answer says so.
    run = ci("pending")
    assert run.exit_code == 0, run.err
    assert "nothing in ml-model-service is waiting for input" in run.summary
    assert "`python -m ci jenkins doctor` checks it" in run.summary
    # Fully named, the approval needs no listing and works on the old plugin too.
    run = ci("approve", "--build", str(number), "--input", "approve-deploy")
    assert run.exit_code == 0, run.err


def test_a_running_build_not_at_an_input_is_not_taken_for_one_on_a_current_input_step(ci, standin):
    # Every build carries unexported actions ({}): on a current input step they say nothing about inputs.
    standin.facts.plugins = {"pipeline-input-step": (INPUT_STEP_FIXED, True)}
    standin.add_branch(*MAIN)
    build = standin.start_build_now(MAIN, BuildScript(steps=["[Pipeline] stage (Unit)\n"] * 1000))
    assert build.building and {} in build.as_json(INPUT_STEP_FIXED)["actions"]
    run = ci("pending", user="root")
    assert run.exit_code == 0, run.err
    assert "nothing in ml-model-service is waiting for input" in run.summary
    assert "doctor" not in run.summary


def test_approve_records_the_approver_on_input_step_versions_before_and_after_the_jenkins_40594_fix(
        ci, standin, input_step_version):
    number = waiting_build(standin)
    run = ci("approve")
    assert run.exit_code == 0, run.err
    assert f"approved input Approve-deploy of build #{number} of {JOB}/main as alice" in run.summary
    build = standin.build(MAIN, number)
    assert build.waiting is None and "Approved by alice" in build.text
    # What `input(... submitterParameter: 'APPROVER')` returned to the Jenkinsfile: the approver, never null.
    assert build.input_values == ["alice"]
    settle = [record for record in standin.requests if "/input/" in record.path]
    assert settle[-1].path.endswith("/input/Approve-deploy/proceed")
    assert "nothing in ml-model-service is waiting for input" in ci("pending").summary


def test_the_standin_plays_proceed_empty_returning_null_before_the_jenkins_40594_fix(standin, input_step_version):
    number = waiting_build(standin)
    session = requests.Session()
    session.auth = ("alice", TOKENS["alice"])
    crumb = session.get(f"{standin.url}crumbIssuer/api/json", timeout=10).json()["crumb"]
    answer = session.post(f"{standin.url}{MAIN_URL}{number}/input/{APPROVAL.id}/proceedEmpty",
                          headers={"Jenkins-Crumb": crumb}, timeout=10)
    assert answer.status_code == 200
    expected = None if input_step_version == INPUT_STEP_BEFORE_FIX else "alice"
    assert standin.build(MAIN, number).input_values == [expected]


def test_approve_a_named_build_of_the_release_branch_without_listing(ci, standin):
    number = waiting_build(standin)
    run = ci("approve", "--build", str(number), "--input", "approve-deploy")
    assert run.exit_code == 0, run.err
    assert standin.build(MAIN, number).input_values == ["alice"]


def test_reject_aborts_the_build(ci, standin):
    number = waiting_build(standin)
    run = ci("reject", "--build", str(number), "--input", "approve-deploy")
    assert run.exit_code == 0 and "rejected input Approve-deploy" in run.summary
    assert standin.build(MAIN, number).result == "ABORTED"


def test_approve_as_someone_outside_the_submitters_is_refused_in_one_line_from_x_error(ci, standin):
    number = waiting_build(standin)
    run = ci("approve", user="bob")
    assert run.exit_code == 2
    lines = [line for line in run.err.splitlines() if line.startswith("[ERROR]")]
    assert len(lines) == 1
    assert f"Jenkins refused to approve input Approve-deploy of build #{number} of {JOB}/main: You need to be " \
           f"release-managers to submit this." in lines[0]
    assert "Jenkins administrators" in lines[0]
    assert standin.build(MAIN, number).waiting == APPROVAL


def test_an_administrator_may_always_approve(ci, standin):
    number = waiting_build(standin)
    assert ci("approve", user="root").exit_code == 0
    assert standin.build(MAIN, number).input_values == ["root"]


def test_job_cancel_may_reject_but_not_approve(ci, standin):
    number = waiting_build(standin)
    refused = ci("approve", user="carol")
    assert refused.exit_code == 2 and "You need to be release-managers to submit this." in refused.summary
    assert ci("reject", user="carol").exit_code == 0
    assert standin.build(MAIN, number).result == "ABORTED"


def test_reject_by_someone_without_job_cancel_quotes_the_input_steps_refusal(ci, standin):
    waiting_build(standin)
    run = ci("reject", user="bob")
    assert run.exit_code == 2
    assert "You need to be 'release-managers' (or have Job/Cancel permissions) to cancel this." in run.summary


def test_approve_names_what_is_missing(ci, standin):
    number = waiting_build(standin)
    unknown = ci("approve", "--build", str(number), "--input", "Rollback")
    assert unknown.exit_code == 2
    assert f"has no pending input Rollback in build #{number} of {JOB}/main" in unknown.summary
    not_pending = ci("approve", "--input", "Rollback")
    assert not_pending.exit_code == 2
    assert f"has no pending input 'Rollback' (pending: {JOB}/main build #1 input Approve-deploy)" \
        in not_pending.summary
    assert ci("approve").exit_code == 0
    again = ci("approve")
    assert again.exit_code == 2 and f"nothing in {JOB} is waiting for input" in again.summary


def test_a_wrong_token_is_a_one_line_401_message_that_never_shows_the_token(standin):
    wrong = "wrong-token-9f8e7d6c"
    result = run_ci_process("status", environ={"JENKINS_URL": standin.url, "JENKINS_USER": "alice",
                                               "JENKINS_API_TOKEN": wrong})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("[ERROR]")]
    assert len(errors) == 1
    assert "refused the credentials: check JENKINS_USER (alice) and JENKINS_API_TOKEN" in errors[0]
    assert wrong not in result.stdout + result.stderr


def test_a_missing_variable_is_a_configuration_error_naming_it(standin):
    result = run_ci_process("status", environ={"JENKINS_URL": standin.url, "JENKINS_USER": "alice"})
    assert result.returncode == 2
    assert "[ERROR] ci jenkins: JENKINS_API_TOKEN is not set" in result.stderr


def test_posts_carry_the_crumb_jenkins_issued_and_a_stale_crumb_is_renewed(ci, standin):
    number = waiting_build(standin)
    # The stand-in refuses a POST without a crumb, as Jenkins does.
    bare = requests.post(f"{standin.url}{MAIN_URL}{number}/input/{APPROVAL.id}/proceed",
                         auth=("alice", TOKENS["alice"]), timeout=10)
    assert bare.status_code == 403 and "No valid crumb" in bare.text

    assert ci("sync-job").exit_code == 0
    posts = [record for record in standin.requests if record.method == "POST" and record.user == "alice"]
    assert posts[-1].path == f"/job/{JOB}/config.xml" and posts[-1].crumb == standin.crumbs["alice"]

    standin.rotate_crumbs()  # as a Jenkins restart does
    run = ci("approve")
    assert run.exit_code == 0, run.err
    settle = [record for record in standin.requests if record.path.endswith("/proceed")]
    assert len(settle) == 2 and settle[-1].crumb == standin.crumbs["alice"]


def test_an_unreachable_jenkins_is_exit_3(ci, monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setenv("JENKINS_URL", f"http://127.0.0.1:{closed_port}/")
    run = ci("status")
    assert run.exit_code == 3 and "is unreachable" in run.summary


def test_insecure_says_loudly_that_tls_is_not_verified(ci, monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setenv("JENKINS_URL", f"https://127.0.0.1:{closed_port}/")
    run = ci("status", "--insecure")
    assert "WARNING: TLS certificate verification is OFF" in run.err
    assert run.exit_code == 3


def test_the_job_jenkins_stores_is_the_one_sync_job_sent(ci, standin):
    assert ci("sync-job").exit_code == 0
    response = requests.get(f"{standin.url}job/{JOB}/config.xml", auth=("alice", TOKENS["alice"]), timeout=10)
    assert SCM_URL in response.text
    assert owned_view(response.text) == owned_view(standin.config(JOB))


@pytest.fixture
def tls_standin(request, tmp_path):
    """The stand-in behind HTTPS with a self-signed certificate, which no default trust store accepts."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed: no certificate for the HTTPS stand-in")
    certificate, key = tmp_path / "jenkins.crt", tmp_path / "jenkins.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(certificate)],
                   check=True, capture_output=True, timeout=60)
    server = JenkinsStandIn(TOKENS, GROUPS, certificate=(str(certificate), str(key))).start()
    request.addfinalizer(server.stop)
    server.add_branch(JOB, "main")
    return server, certificate


def test_tls_is_verified_by_default_and_switched_off_only_loudly(tls_standin):
    server, certificate = tls_standin
    environ = {"JENKINS_URL": server.url, "JENKINS_USER": "alice", "JENKINS_API_TOKEN": TOKENS["alice"]}
    refused = run_ci_process("status", environ=environ)
    assert refused.returncode == 3
    assert "TLS certificate was not accepted" in refused.stderr and "REQUESTS_CA_BUNDLE" in refused.stderr
    assert server.requests == []

    trusted = run_ci_process("status", environ={**environ, "REQUESTS_CA_BUNDLE": str(certificate)})
    assert trusted.returncode == 0, trusted.stderr
    assert "WARNING" not in trusted.stderr

    for flags, switch_off in (([], {"JENKINS_TLS_VERIFY": "false"}), (["--insecure"], {})):
        unverified = run_ci_process("status", *flags, environ={**environ, **switch_off})
        assert unverified.returncode == 0, unverified.stderr
        assert "WARNING: TLS certificate verification is OFF" in unverified.stderr


def test_an_input_refusal_is_read_from_x_error_not_from_the_page(standin):
    session = JenkinsSession(connection_from({"JENKINS_URL": standin.url, "JENKINS_USER": "bob",
                                              "JENKINS_API_TOKEN": TOKENS["bob"]}))
    page = requests.Response()
    page.status_code, page.reason = 400, "Bad Request"
    page.headers["X-Error"] = "You need to be release-managers to submit this."
    page._content = b"<html><head><title>Jenkins</title></head><body><h1>Error</h1>...</body></html>"
    failure = session._failure(requests.HTTPError(response=page), "approve", "input Deploy of build #7", "Deploy",
                               None)
    assert (failure.status, failure.refusal) == (400, "You need to be release-managers to submit this.")


def test_the_tags_view_answers_as_branch_api_does_and_status_reads_each_answer(ci, standin):
    # MultiBranchProjectViewHolder.getViews: only the welcome view while the project has no items; else one view
    # per SCMHeadCategory of the source, and the git source has the tags one only with TagDiscoveryTrait
    # (AbstractGitSCMSource.isCategoryEnabled, TagDiscoveryTrait.includeCategory).
    def tags_view():
        status, _, body = standin._job_route("GET", (JOB,), "view/tags/api/json", {}, b"", "root")
        return status, (json.loads(body).get("jobs") if status == 200 else None)

    assert ci("sync-job", user="root").exit_code == 0
    assert tags_view() == (404, None)  # no jobs yet
    standin.add_branch(JOB, "main")
    assert tags_view() == (200, [])  # jobs and tag discovery, no tag yet
    assert_no_builds_and_not_a_tag(ci("status"))
    standin.set_config(JOB, standin.config(JOB).replace(f"<{TAG_DISCOVERY} />", ""))
    assert tags_view() == (404, None)  # no tag discovery
    assert_no_builds_and_not_a_tag(ci("status"))


def assert_no_builds_and_not_a_tag(run):
    assert run.exit_code == 0, run.err
    assert f"job {JOB}/main has no builds yet (" in run.summary and "not built automatically" not in run.summary
