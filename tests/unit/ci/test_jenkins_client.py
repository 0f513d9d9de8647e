"""`python -m ci jenkins` against the Jenkins stand-in (tests/jenkins_standin.py) on loopback: no Jenkins needed."""

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
from ci.jenkins_requests import connection_from, normalized_job_xml
from tests.jenkins_standin import BuildScript, Input, JenkinsStandIn

REPOSITORY_ROOT = Path(__file__).resolve().parents[3]
JOB = "ml-model-service"
TOKENS = {"alice": "alice-api-token-0a1b2c", "bob": "bob-api-token-3d4e5f"}
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


@pytest.fixture
def standin(request):
    server = JenkinsStandIn(TOKENS, GROUPS).start()
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


def waiting_build(standin: JenkinsStandIn) -> int:
    standin.add_job(JOB)
    build = standin.start_build_now(JOB, BuildScript(steps=["[Pipeline] stage (Acceptance)\n", APPROVAL,
                                                            "[Pipeline] stage (Deploy)\n"], artifacts=EVIDENCE))
    standin.wait_for_input(JOB, build.number)
    return build.number


def test_sync_job_creates_the_job_then_leaves_it_unchanged_then_updates_it_with_a_diff(ci, standin):
    created = ci("sync-job")
    assert created.exit_code == 0, created.err
    assert f"job {JOB} created" in created.summary
    # Jenkins keeps its own serialization (XML 1.1, plugin versions): still the same job.
    assert "plugin=" in standin.jobs[JOB]

    unchanged = ci("sync-job")
    assert unchanged.exit_code == 0 and f"job {JOB} unchanged" in unchanged.summary
    assert [record.path for record in standin.requests if record.method == "POST"] == ["/createItem"]

    standin.jobs[JOB] = standin.jobs[JOB].replace("H/5 * * * *", "H/30 * * * *")
    updated = ci("sync-job")
    assert updated.exit_code == 0 and f"job {JOB} updated" in updated.summary
    assert f"--- {JOB} (in Jenkins)" in updated.err
    assert "-          <spec>H/30 * * * *</spec>" in updated.err
    assert "+          <spec>H/5 * * * *</spec>" in updated.err
    assert "H/5 * * * *" in standin.jobs[JOB]
    assert ci("sync-job").summary.startswith("[PASS] ci jenkins: job ml-model-service unchanged")


def test_sync_job_keeps_what_the_jenkinsfile_wrote_into_the_job(ci, standin):
    assert ci("sync-job").exit_code == 0
    # What a first build of the declarative Jenkinsfile adds to the job: its options and parameters as job
    # properties, and a record of them in <actions>.
    jenkinsfile_properties = (
        "<properties>\n    <jenkins.model.BuildDiscarderProperty><strategy class=\"hudson.tasks.LogRotator\">"
        "<numToKeep>50</numToKeep></strategy></jenkins.model.BuildDiscarderProperty>\n"
        "    <hudson.model.ParametersDefinitionProperty><parameterDefinitions/>"
        "</hudson.model.ParametersDefinitionProperty>")
    tracker_action = "org.jenkinsci.plugins.pipeline.modeldefinition.actions.DeclarativeJobPropertyTrackerAction"
    tracker = (f"<actions>\n    <{tracker_action}><jobProperties><string>jenkins.model.BuildDiscarderProperty"
               f"</string></jobProperties></{tracker_action}></actions>")
    standin.jobs[JOB] = standin.jobs[JOB].replace("<properties>", jenkinsfile_properties, 1).replace(
        "<actions />", tracker, 1)
    assert "unchanged" in ci("sync-job").summary

    standin.jobs[JOB] = standin.jobs[JOB].replace("<scriptPath>Jenkinsfile</scriptPath>",
                                                  "<scriptPath>ci/Jenkinsfile</scriptPath>")
    updated = ci("sync-job")
    assert "updated" in updated.summary
    assert "-    <scriptPath>ci/Jenkinsfile</scriptPath>" in updated.err
    assert "BuildDiscarderProperty" not in "".join(line for line in updated.err.splitlines()
                                                   if line.startswith(("-", "+")))
    assert "<numToKeep>50</numToKeep>" in standin.jobs[JOB]
    assert "DeclarativeJobPropertyTrackerAction" in standin.jobs[JOB]


def test_sync_job_dry_run_changes_nothing(ci, standin):
    result = ci("sync-job", "--dry-run")
    assert result.exit_code == 0 and "would be created" in result.summary
    assert "<scriptPath>Jenkinsfile</scriptPath>" in result.err
    assert JOB not in standin.jobs


def test_sync_job_without_an_scm_url_names_the_key_and_sends_nothing(ci, standin, monkeypatch):
    monkeypatch.delenv("MLCI_JENKINS_SCM_URL")
    result = ci("sync-job")
    assert result.exit_code == 2
    assert "jenkins.scm_url is not set" in result.summary
    assert standin.requests == []


@pytest.mark.parametrize("result, exit_code", [("SUCCESS", 0), ("UNSTABLE", 1), ("FAILURE", 1), ("ABORTED", 130)])
def test_trigger_wait_streams_the_console_in_pieces_and_exits_with_the_build_result(ci, standin, result, exit_code):
    standin.add_job(JOB)
    steps = ["Started by user alice\n", "[Pipeline] stage (Lint)\n", "[Pipeline] stage (Unit) ✓\n",
             "[Pipeline] stage (Build)\n"]
    standin.script_next_builds(JOB, BuildScript(steps=steps, result=result))
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
    assert standin.build(JOB, 1).parameters == {"RELEASE": "1.4.0"}
    assert any(record.path == f"/job/{JOB}/buildWithParameters" for record in standin.requests)


def test_console_text_is_written_while_the_build_runs_not_at_its_end(standin):
    standin.add_job(JOB)
    build = standin.start_build_now(JOB, BuildScript(steps=[f"line {index}\n" for index in range(5)]))
    session = JenkinsSession(connection_from({"JENKINS_URL": standin.url, "JENKINS_USER": "alice",
                                              "JENKINS_API_TOKEN": TOKENS["alice"]}))
    written: list[tuple[str, bool]] = []
    followed = session.follow_console(JOB, build.number, lambda text: written.append((text, build.building)),
                                      poll_seconds=0.02, deadline=time.monotonic() + 20)
    assert followed
    assert len(written) > 1 and written[0][1] is True
    assert "".join(text for text, _ in written) == build.text


def test_trigger_without_wait_reports_the_build_that_started(ci, standin):
    standin.add_job(JOB)
    run = ci("trigger", *FAST)
    assert run.exit_code == 0
    assert f"build #1 of {JOB} started: {standin.url}job/{JOB}/1/" in run.summary
    assert any(record.path == f"/job/{JOB}/build" for record in standin.requests)


def test_a_cancelled_queue_item_is_a_clear_error_with_exit_3(ci, standin):
    standin.add_job(JOB)
    standin.script_next_builds(JOB, BuildScript(cancelled_in_queue=True))
    run = ci("trigger", "--wait", *FAST)
    assert run.exit_code == 3
    assert "queue item 1 of ml-model-service was cancelled before it started a build" in run.summary


def test_waiting_longer_than_the_timeout_stops_following_with_exit_3(ci, standin):
    standin.add_job(JOB)
    standin.script_next_builds(JOB, BuildScript(steps=["waiting\n", APPROVAL]))
    run = ci("trigger", "--wait", "--poll", "0.05", "--timeout", "1")
    assert run.exit_code == 3
    assert "was still running after 1s; it goes on in Jenkins" in run.summary


def test_status_and_logs_of_the_last_build(ci, standin):
    standin.add_job(JOB)
    assert "has no builds yet" in ci("status").summary
    assert ci("trigger", "--wait", *FAST).exit_code == 0
    status = ci("status")
    assert status.exit_code == 0
    assert "build     #1 of ml-model-service" in status.err and "result    SUCCESS" in status.err
    assert "duration  " in status.err and f"url       {standin.url}job/{JOB}/1/" in status.err
    logs = ci("logs")
    assert logs.exit_code == 0 and logs.out == standin.build(JOB, 1).text
    missing = ci("logs", "--build", "99")
    assert missing.exit_code == 2 and f"has no build #99 of {JOB}" in missing.summary


def test_logs_follow_a_running_build_to_its_end(ci, standin):
    number = waiting_build(standin)
    standin.build(JOB, number).settle("alice", approve=True)
    run = ci("logs", "--follow", *FAST)
    assert run.exit_code == 0
    assert run.out.endswith("[Pipeline] stage (Deploy)\nFinished: SUCCESS\n")


def test_pending_lists_the_input_and_the_evidence_links(ci, standin):
    number = waiting_build(standin)
    run = ci("pending")
    assert run.exit_code == 0
    build_url = f"{standin.url}job/{JOB}/{number}/"
    assert f"build #{number} of {JOB}: {build_url}" in run.err
    assert "input Approve-deploy: Deploy this release? [Deploy]" in run.err
    assert f"{build_url}artifact/reports/acceptance/gates.json" in run.err
    assert f"{build_url}artifact/reports/unit/junit.xml" in run.err
    assert "model.onnx" not in run.err
    assert "1 input(s) waiting in 1 build(s)" in run.summary


def test_approve_as_a_release_manager_lets_the_build_go_on(ci, standin):
    number = waiting_build(standin)
    run = ci("approve")
    assert run.exit_code == 0
    assert f"approved input Approve-deploy of build #{number} of {JOB} as alice" in run.summary
    build = standin.build(JOB, number)
    assert build.waiting is None and "Approved by alice" in build.text
    assert "nothing in ml-model-service is waiting for input" in ci("pending").summary


def test_reject_aborts_the_build(ci, standin):
    number = waiting_build(standin)
    run = ci("reject", "--build", str(number), "--input", "approve-deploy")
    assert run.exit_code == 0 and "rejected input Approve-deploy" in run.summary
    assert standin.build(JOB, number).result == "ABORTED"


def test_approve_as_someone_outside_the_submitters_is_refused_by_jenkins(ci, standin):
    number = waiting_build(standin)
    run = ci("approve", user="bob")
    assert run.exit_code == 2
    assert "Jenkins refused: bob is not an allowed submitter of input Approve-deploy" in run.summary
    assert standin.build(JOB, number).waiting == APPROVAL


def test_approve_names_what_is_missing(ci, standin):
    number = waiting_build(standin)
    unknown = ci("approve", "--build", str(number), "--input", "Rollback")
    assert unknown.exit_code == 2
    assert f"has no input Rollback of build #{number} of {JOB}" in unknown.summary
    not_pending = ci("approve", "--input", "Rollback")
    assert not_pending.exit_code == 2
    assert "has no pending input 'Rollback' (pending: build #1 input Approve-deploy)" in not_pending.summary
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
    bare = requests.post(f"{standin.url}job/{JOB}/{number}/input/{APPROVAL.id}/proceedEmpty",
                         auth=("alice", TOKENS["alice"]), timeout=10)
    assert bare.status_code == 403 and "No valid crumb" in bare.text

    assert ci("sync-job").exit_code == 0
    posts = [record for record in standin.requests if record.method == "POST" and record.user == "alice"]
    assert posts[-1].path == f"/job/{JOB}/config.xml" and posts[-1].crumb == standin.crumbs["alice"]

    standin.rotate_crumbs()  # as a Jenkins restart does
    run = ci("approve")
    assert run.exit_code == 0, run.err
    settle = [record for record in standin.requests if record.path.endswith("/proceedEmpty")]
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
    assert normalized_job_xml(response.text) == normalized_job_xml(standin.jobs[JOB])


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
    server.add_job(JOB)
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


def test_an_input_refusal_inside_an_html_error_page_is_still_recognised(standin):
    session = JenkinsSession(connection_from({"JENKINS_URL": standin.url, "JENKINS_USER": "bob",
                                              "JENKINS_API_TOKEN": TOKENS["bob"]}))
    page = requests.Response()
    page.status_code, page.reason = 400, "Bad Request"
    page._content = (b"<html><head><title>Jenkins</title></head><body><h1>Error</h1>"
                     b"<p>You need to be 'release-managers' to submit this.</p></body></html>")
    failure = session._failure(requests.HTTPError(response=page), "approve", "input Deploy of build #7", "Deploy")
    assert (failure.status, failure.detail) == (400, "You need to be 'release-managers' to submit this.")
