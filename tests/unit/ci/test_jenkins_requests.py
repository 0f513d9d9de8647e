import xml.etree.ElementTree as ET

import pytest

from ci.config import JenkinsConfig
from ci.errors import CannotRun, ConfigError, UserError
from ci.jenkins_requests import (JenkinsConnection, JenkinsFailure, PendingInput, branch_spec, build_status,
                                 choose_input, connection_from, connection_warnings, console_chunk, describe_build,
                                 error_for_failure, evidence_links, exit_code_for_result, format_duration,
                                 input_submit_path, jenkins_input_id, job_config_xml, job_path, normalized_job_xml,
                                 parse_parameters, pending_inputs, pending_inputs_path, progressive_text_path,
                                 queue_state, sync_plan)

ENVIRON = {"JENKINS_URL": "https://jenkins.example.com", "JENKINS_USER": "alice", "JENKINS_API_TOKEN": "t0ken-abc"}
CONFIGURED = JenkinsConfig(scm_url="https://git.example.com/ml/ml-model-service.git", scm_credentials_id="git-read")
CONNECTION = JenkinsConnection("https://jenkins.example.com/", "alice", "t0ken-abc")


@pytest.mark.parametrize("missing", ["JENKINS_URL", "JENKINS_USER", "JENKINS_API_TOKEN"])
def test_each_connection_variable_is_required_by_name(missing):
    with pytest.raises(ConfigError, match=f"^{missing} is not set"):
        connection_from({**ENVIRON, missing: ""})


def test_connection_keeps_the_token_out_of_its_repr_and_verifies_tls_by_default():
    connection = connection_from(ENVIRON)
    assert connection.url == "https://jenkins.example.com/"
    assert connection.verify_tls is True
    assert "t0ken-abc" not in repr(connection)


@pytest.mark.parametrize("environ, insecure, verify", [
    ({}, True, False), ({"JENKINS_TLS_VERIFY": "false"}, False, False), ({"JENKINS_TLS_VERIFY": "0"}, False, False),
    ({"JENKINS_TLS_VERIFY": "true"}, False, True),
])
def test_tls_verification_is_switched_off_only_on_request(environ, insecure, verify):
    assert connection_from({**ENVIRON, **environ}, insecure=insecure).verify_tls is verify


def test_a_tls_setting_that_is_not_a_boolean_names_the_variable():
    with pytest.raises(ConfigError, match="JENKINS_TLS_VERIFY must be true or false"):
        connection_from({**ENVIRON, "JENKINS_TLS_VERIFY": "maybe"})


def test_a_url_that_is_not_http_is_refused_without_showing_userinfo():
    with pytest.raises(ConfigError, match="JENKINS_URL must be an http") as error:
        connection_from({**ENVIRON, "JENKINS_URL": "ftp://alice:t0ken-abc@jenkins"})
    assert "t0ken-abc" not in str(error.value)


def test_credentials_in_the_url_are_refused_without_being_shown():
    with pytest.raises(ConfigError, match="must not carry credentials") as error:
        connection_from({**ENVIRON, "JENKINS_URL": "https://alice:t0ken-abc@jenkins.example.com/"})
    assert "t0ken-abc" not in str(error.value)


def test_switching_tls_off_or_sending_the_token_in_clear_is_said_loudly():
    insecure = connection_from(ENVIRON, insecure=True)
    assert "TLS certificate verification is OFF" in connection_warnings(insecure)[0]
    plain = connection_from({**ENVIRON, "JENKINS_URL": "http://jenkins.example.com:8080"})
    assert "unencrypted" in connection_warnings(plain)[0]
    assert connection_warnings(connection_from({**ENVIRON, "JENKINS_URL": "http://127.0.0.1:8080"})) == []
    assert connection_warnings(connection_from(ENVIRON)) == []


def test_the_job_is_a_pipeline_from_scm_with_polling_and_push_notifications():
    root = ET.fromstring(job_config_xml(CONFIGURED).split("\n", 1)[1])
    assert root.tag == "flow-definition"
    definition = root.find("definition")
    assert definition.get("class") == "org.jenkinsci.plugins.workflow.cps.CpsScmFlowDefinition"
    assert definition.findtext("scriptPath") == "Jenkinsfile"
    scm = definition.find("scm")
    assert scm.get("class") == "hudson.plugins.git.GitSCM"
    assert scm.findtext("userRemoteConfigs/hudson.plugins.git.UserRemoteConfig/url") == CONFIGURED.scm_url
    assert scm.findtext("userRemoteConfigs/hudson.plugins.git.UserRemoteConfig/credentialsId") == "git-read"
    assert scm.findtext("branches/hudson.plugins.git.BranchSpec/name") == "*/main"
    trigger = root.find("properties/org.jenkinsci.plugins.workflow.job.properties.PipelineTriggersJobProperty/"
                        "triggers/hudson.triggers.SCMTrigger")
    assert trigger.findtext("spec") == "H/5 * * * *"
    assert trigger.findtext("ignorePostCommitHooks") == "false"


def test_a_public_repository_gets_no_credentials_id_and_values_are_escaped():
    xml = job_config_xml(JenkinsConfig(scm_url="https://git.example.com/a?x=1&y=<2>"))
    root = ET.fromstring(xml.split("\n", 1)[1])
    assert root.find(".//credentialsId") is None
    assert root.findtext(".//url") == "https://git.example.com/a?x=1&y=<2>"


def test_the_job_needs_an_scm_url_and_the_error_names_the_key():
    with pytest.raises(ConfigError, match=r"jenkins\.scm_url is not set"):
        job_config_xml(JenkinsConfig())


@pytest.mark.parametrize("branch, spec", [("main", "*/main"), ("release/1.x", "*/release/1.x"),
                                          ("refs/heads/main", "refs/heads/main"), ("*/main", "*/main")])
def test_branch_specifiers(branch, spec):
    assert branch_spec(branch) == spec


def test_what_jenkins_stores_equals_what_we_sent_despite_its_declaration_plugins_and_layout():
    sent = job_config_xml(CONFIGURED)
    stored = ("<?xml version='1.1' encoding='UTF-8'?>\n" + sent.split("\n", 1)[1]
              .replace("<flow-definition>", '<flow-definition plugin="workflow-job@1400.v1">')
              .replace("\n      ", "\n\t").replace("<actions />", "<actions></actions>"))
    assert normalized_job_xml(stored) == normalized_job_xml(sent)
    assert sync_plan(stored, sent, "job").action == "unchanged"


def test_a_missing_job_is_created_and_a_different_one_updated_with_a_unified_diff():
    sent = job_config_xml(CONFIGURED)
    assert sync_plan(None, sent, "job").action == "create"
    plan = sync_plan(sent.replace("H/5 * * * *", "@hourly"), sent, "ml")
    assert plan.action == "update"
    assert plan.diff[:2] == ["--- ml (in Jenkins)", "+++ ml (from ci.toml)"]
    assert "-          <spec>@hourly</spec>" in plan.diff
    assert "+          <spec>H/5 * * * *</spec>" in plan.diff


def test_what_the_jenkinsfile_and_jenkins_keep_in_the_job_is_kept_and_not_reported():
    sent = job_config_xml(CONFIGURED)
    root = ET.fromstring(sent.split("\n", 1)[1])
    # A declarative Jenkinsfile's options become job properties (Jenkins puts them first), its record of them goes
    # to <actions>, and a setting made in the UI adds a top-level element.
    root.find("properties").insert(0, ET.fromstring("<jenkins.model.BuildDiscarderProperty plugin='x'>"
                                                    "<strategy><numToKeep>50</numToKeep></strategy>"
                                                    "</jenkins.model.BuildDiscarderProperty>"))
    root.find("actions").append(ET.Element("org.jenkinsci.plugins.pipeline.modeldefinition.actions."
                                           "DeclarativeJobPropertyTrackerAction"))
    ET.SubElement(root, "quietPeriod").text = "10"
    stored = ET.tostring(root, encoding="unicode")
    assert sync_plan(stored, sent, "ml").action == "unchanged"

    changed = sync_plan(stored.replace("H/5 * * * *", "@hourly"), sent, "ml")
    assert changed.action == "update"
    assert [line for line in changed.diff if line[:1] in "+-" and line[:3] not in ("+++", "---")] == [
        "-          <spec>@hourly</spec>", "+          <spec>H/5 * * * *</spec>"]
    for kept in ("<numToKeep>50</numToKeep>", "DeclarativeJobPropertyTrackerAction", "<quietPeriod>10</quietPeriod>"):
        assert kept in changed.config_xml


def test_a_job_of_another_kind_is_not_overwritten():
    with pytest.raises(CannotRun, match="is a <project>, not a pipeline job"):
        sync_plan("<project><builders/></project>", job_config_xml(CONFIGURED), "ml")


def test_a_config_that_is_not_xml_cannot_be_compared():
    with pytest.raises(CannotRun, match="not XML"):
        sync_plan("<html>oops", job_config_xml(CONFIGURED), "job")


def test_rest_paths_follow_jenkins_and_its_folders():
    assert job_path("ml-model-service") == "job/ml-model-service/"
    assert job_path("team/ml model") == "job/team/job/ml%20model/"
    assert progressive_text_path("ml", 7, 120) == "job/ml/7/logText/progressiveText?start=120"
    assert pending_inputs_path("ml", 7) == "job/ml/7/wfapi/pendingInputActions"
    assert input_submit_path("ml", 7, "Deploy", approve=True) == "job/ml/7/input/Deploy/proceedEmpty"
    assert input_submit_path("ml", 7, "Deploy", approve=False) == "job/ml/7/input/Deploy/abort"


def test_input_ids_are_capitalized_as_the_input_step_does():
    assert jenkins_input_id("approve-deploy") == "Approve-deploy"
    assert jenkins_input_id("Deploy-prod") == "Deploy-prod"
    assert jenkins_input_id("1st-gate") == "1st-gate"


def test_build_parameters():
    assert parse_parameters(["RELEASE=1.4.0", "NOTE=a=b", "EMPTY="]) == {"RELEASE": "1.4.0", "NOTE": "a=b", "EMPTY": ""}
    assert parse_parameters(None) == {}
    with pytest.raises(UserError, match="must be NAME=VALUE"):
        parse_parameters(["RELEASE"])
    with pytest.raises(UserError, match="given twice"):
        parse_parameters(["A=1", "A=2"])


def test_queue_items_wait_start_or_are_cancelled():
    waiting = queue_state({"_class": "hudson.model.Queue$WaitingItem", "why": "In the quiet period"})
    assert (waiting.started, waiting.cancelled, waiting.why) == (False, False, "In the quiet period")
    started = queue_state({"cancelled": False, "executable": {"number": 12, "url": "http://j/job/ml/12/"}})
    assert (started.started, started.build_number, started.build_url) == (True, 12, "http://j/job/ml/12/")
    cancelled = queue_state({"cancelled": True, "executable": None})
    assert (cancelled.started, cancelled.cancelled) == (False, True)


def test_progressive_text_headers_say_where_to_continue_and_whether_more_comes():
    running = console_chunk(b"abc", {"X-Text-Size": "103", "X-More-Data": "true"}, 100)
    assert (running.data, running.next_start, running.more) == (b"abc", 103, True)
    ended = console_chunk(b"", {"X-Text-Size": "103"}, 103)
    assert (ended.next_start, ended.more) == (103, False)
    assert console_chunk(b"xy", {}, 5).next_start == 7


def test_build_status_and_its_line():
    finished = build_status({"number": 7, "url": "u/", "building": False, "result": "SUCCESS", "duration": 243_000,
                             "timestamp": 0}, now_seconds=10_000)
    assert describe_build(finished) == "build #7 SUCCESS in 4m03s: u/"
    running = build_status({"number": 8, "url": "u/", "building": True, "result": None, "duration": 0,
                            "timestamp": 9_988_000}, now_seconds=10_000)
    assert describe_build(running) == "build #8 building for 12.0s: u/"
    assert format_duration(3720) == "1h02m"


@pytest.mark.parametrize("result, code", [("SUCCESS", 0), ("UNSTABLE", 1), ("FAILURE", 1), ("ABORTED", 130),
                                          ("NOT_BUILT", 3), (None, 3), ("SOMETHING_NEW", 3)])
def test_the_exit_code_mirrors_the_build_result(result, code):
    assert exit_code_for_result(result) == code


def test_pending_inputs_and_the_evidence_under_reports():
    actions = [{"id": "Deploy", "message": "Deploy 1.4.0?", "proceedText": "Deploy", "inputs": []}]
    assert pending_inputs(7, actions) == [PendingInput(7, "Deploy", "Deploy 1.4.0?", "Deploy")]
    build = {"url": "http://j/job/ml/7/", "artifacts": [
        {"relativePath": "reports/acceptance/gates.json"}, {"relativePath": "dist/model.onnx"},
        {"relativePath": "reports/unit/junit.xml"}, {"relativePath": "reports/unit/coverage-html/index.html"},
        {"relativePath": "reports/pipeline.html"}, {"relativePath": "reports/evidence.md"}]}
    assert evidence_links(build) == ["http://j/job/ml/7/artifact/reports/evidence.md",
                                     "http://j/job/ml/7/artifact/reports/pipeline.html",
                                     "http://j/job/ml/7/artifact/reports/acceptance/gates.json",
                                     "http://j/job/ml/7/artifact/reports/unit/junit.xml"]


def test_choosing_the_input_to_answer():
    deploy7, deploy8 = PendingInput(7, "Deploy", "", ""), PendingInput(8, "Deploy", "", "")
    assert choose_input([deploy7], "ml", None, None) == deploy7
    assert choose_input([deploy7, deploy8], "ml", 8, "deploy") == deploy8
    with pytest.raises(UserError, match="nothing in ml is waiting for input"):
        choose_input([], "ml", None, None)
    with pytest.raises(UserError, match="2 inputs are pending in ml"):
        choose_input([deploy7, deploy8], "ml", None, None)
    with pytest.raises(UserError, match="has no pending input 'Rollback'"):
        choose_input([deploy7], "ml", 7, "Rollback")


def _failure(status, detail="", **kwargs):
    return JenkinsFailure(kwargs.pop("action", "read"), kwargs.pop("subject", "job ml-model-service"), status,
                          detail, **kwargs)


def test_failures_become_one_line_errors_with_their_exit_codes():
    config = JenkinsConfig()
    unauthorized = error_for_failure(_failure(401), CONNECTION, config)
    assert unauthorized.exit_code == 2 and "JENKINS_USER (alice) and JENKINS_API_TOKEN" in str(unauthorized)
    refused = error_for_failure(_failure(403, "You need to be 'release-managers'", action="approve",
                                         subject="input Deploy of build #7", input_id="Deploy"), CONNECTION, config)
    assert refused.exit_code == 2
    assert str(refused).startswith("Jenkins refused: alice is not an allowed submitter of input Deploy")
    # The input step's refusal page may come with another status than 403; its text still says who may answer.
    assert "not an allowed submitter" in str(error_for_failure(
        _failure(400, "You need to be 'release-managers' to submit this.", input_id="Deploy"), CONNECTION, config))
    forbidden = error_for_failure(_failure(403, "alice is missing the Job/Build permission", action="start"),
                                  CONNECTION, config)
    assert isinstance(forbidden, ConfigError) and "may not start job ml-model-service" in str(forbidden)
    missing_job = error_for_failure(_failure(404), CONNECTION, config)
    assert missing_job.exit_code == 2 and "sync-job" in str(missing_job)
    missing_build = error_for_failure(_failure(404, subject="build #99 of ml-model-service"), CONNECTION, config)
    assert str(missing_build) == "Jenkins at https://jenkins.example.com/ has no build #99 of ml-model-service"
    unreachable = error_for_failure(_failure(None, "Connection refused", reached=False), CONNECTION, config)
    assert unreachable.exit_code == 3 and "unreachable" in str(unreachable)
    crumb = error_for_failure(_failure(403, "No valid crumb", bad_crumb=True), CONNECTION, config)
    assert crumb.exit_code == 3 and "crumb" in str(crumb)
    broken = error_for_failure(_failure(500, "java.lang.NullPointerException"), CONNECTION, config)
    assert broken.exit_code == 3 and "HTTP 500" in str(broken)
