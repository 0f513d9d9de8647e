import xml.etree.ElementTree as ET

import pytest

from ci.config import JenkinsConfig
from ci.errors import CannotRun, ConfigError, UserError
from ci.jenkins.answers import (PendingInput, build_status, check_parameters, choose_input, console_chunk,
                                describe_build, evidence_links, exit_code_for_result, format_duration,
                                inputs_unseen, job_parameter_names, parse_parameters, pending_inputs, queue_state)
from ci.jenkins.connection import JenkinsConnection, connection_from, connection_warnings
from ci.jenkins.failures import JenkinsFailure, error_for_failure
from ci.jenkins.job_xml import job_config_xml, owned_view, scan_crontab, scan_interval_millis, sync_plan
from ci.jenkins.paths import (PROCEED_FORM, JobRef, branch_item_name, branch_job, input_submit_path,
                              jenkins_input_id, job_path, progressive_text_path)

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


MB = "org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject"
SOURCE = "sources/data/jenkins.branch.BranchSource"


def parsed(xml: str) -> ET.Element:
    return ET.fromstring(xml.split("\n", 1)[1])


def test_the_job_is_a_multibranch_pipeline_with_branch_and_tag_discovery_and_a_tag_build_strategy():
    root = parsed(job_config_xml(CONFIGURED))
    assert root.tag == MB
    source = root.find(f"{SOURCE}/source")
    assert source.get("class") == "jenkins.plugins.git.GitSCMSource"
    assert source.findtext("remote") == CONFIGURED.scm_url
    assert source.findtext("credentialsId") == "git-read"
    assert [trait.tag for trait in source.find("traits")] == [
        "jenkins.plugins.git.traits.BranchDiscoveryTrait", "jenkins.plugins.git.traits.TagDiscoveryTrait"]
    strategies = root.find(f"{SOURCE}/buildStrategies")
    assert [strategy.tag for strategy in strategies] == [
        "jenkins.branch.buildstrategies.basic.BranchBuildStrategyImpl",
        "jenkins.branch.buildstrategies.basic.TagBuildStrategyImpl"]
    # A tag older than 7 days when first seen is not built: the first scan does not rebuild every old release.
    assert strategies[1].findtext("atMostMillis") == str(7 * 86_400_000)
    assert strategies[1].findtext("atLeastMillis") == "-1"
    trigger = root.find("triggers/com.cloudbees.hudson.plugins.folder.computed.PeriodicFolderTrigger")
    assert (trigger.findtext("spec"), trigger.findtext("interval")) == ("* * * * *", "300000")
    factory = root.find("factory")
    assert factory.get("class") == "org.jenkinsci.plugins.workflow.multibranch.WorkflowBranchProjectFactory"
    assert factory.findtext("scriptPath") == "Jenkinsfile"
    assert factory.find("owner").attrib == {"class": MB, "reference": "../.."}


@pytest.mark.parametrize("interval, millis, spec", [
    ("5m", 300_000, "* * * * *"), ("30m", 1_800_000, "H/5 * * * *"), ("1h", 3_600_000, "H/15 * * * *"),
    ("1d", 86_400_000, "H H/4 * * *"), ("60d", 30 * 86_400_000, "H H * * *")])
def test_the_scan_interval_is_written_as_periodic_folder_trigger_stores_it(interval, millis, spec):
    assert scan_interval_millis(interval) == millis
    assert scan_crontab(millis) == spec


def test_a_scan_interval_jenkins_would_silently_misread_is_refused():
    with pytest.raises(ConfigError, match="jenkins.scan_interval must be a number with m, h or d"):
        scan_interval_millis("hourly")


def test_a_public_repository_gets_no_credentials_id_and_values_are_escaped():
    xml = job_config_xml(JenkinsConfig(scm_url="https://git.example.com/a?x=1&y=<2>"))
    root = parsed(xml)
    assert root.find(".//credentialsId") is None
    assert root.findtext(".//remote") == "https://git.example.com/a?x=1&y=<2>"


def test_the_job_needs_an_scm_url_and_the_error_names_the_key():
    with pytest.raises(ConfigError, match=r"jenkins\.scm_url is not set"):
        job_config_xml(JenkinsConfig())


def resaved(sent: str) -> str:
    """What Jenkins stores for it (see tests/jenkins_standin_state.py, as_jenkins_stores_it)."""
    from tests.jenkins_standin_state import as_jenkins_stores_it
    return as_jenkins_stores_it(sent.replace("<id>ml-model-service-git</id>", ""))


def test_what_jenkins_stores_is_unchanged_despite_its_declaration_plugins_ids_views_and_layout():
    sent = job_config_xml(CONFIGURED)
    stored = resaved(sent)
    assert "<folderViews" in stored and 'plugin="git@' in stored and "<id>" in stored
    assert owned_view(stored) == owned_view(sent)
    plan = sync_plan(stored, sent, "job")
    assert plan.action == "unchanged"


def test_a_missing_job_is_created_and_a_different_one_updated_with_a_unified_diff():
    sent = job_config_xml(CONFIGURED)
    assert sync_plan(None, sent, "job").action == "create"
    plan = sync_plan(resaved(sent).replace("<remote>https://git.example.com/ml/ml-model-service.git</remote>",
                                           "<remote>https://old.example.com/ml.git</remote>"), sent, "ml")
    assert plan.action == "update"
    assert plan.diff[:2] == ["--- ml (in Jenkins)", "+++ ml (from ci.toml)"]
    assert [line for line in plan.diff if line[:1] in "+-" and line[:3] not in ("+++", "---")] == [
        "-    <remote>https://old.example.com/ml.git</remote>",
        "+    <remote>https://git.example.com/ml/ml-model-service.git</remote>"]


def test_a_removed_tag_discovery_is_a_change_and_the_source_id_jenkins_chose_is_kept():
    sent = job_config_xml(CONFIGURED)
    stored = resaved(sent).replace("<jenkins.plugins.git.traits.TagDiscoveryTrait />", "")
    jenkins_id = parsed(stored).findtext(f"{SOURCE}/source/id")
    plan = sync_plan(stored, sent, "ml")
    assert plan.action == "update"
    assert "+      <jenkins.plugins.git.traits.TagDiscoveryTrait />" in plan.diff
    merged = parsed(plan.config_xml)
    assert merged.findtext(f"{SOURCE}/source/id") == jenkins_id
    assert merged.find("folderViews") is not None


def test_what_others_keep_in_the_project_is_kept_and_not_reported():
    sent = job_config_xml(CONFIGURED)
    root = parsed(resaved(sent))
    root.find("properties").append(ET.fromstring("<com.cloudbees.hudson.plugins.folder.properties."
                                                 "FolderCredentialsProvider_-FolderCredentialsProperty/>"))
    ET.SubElement(root, "quietPeriod").text = "10"
    stored = ET.tostring(root, encoding="unicode")
    plan = sync_plan(stored, sent, "ml")
    assert plan.action == "unchanged"
    changed = sync_plan(stored.replace("<scriptPath>Jenkinsfile</scriptPath>", "<scriptPath>x</scriptPath>"),
                        sent, "ml")
    for kept in ("FolderCredentialsProperty", "<quietPeriod>10</quietPeriod>"):
        assert kept in changed.config_xml


def test_a_plain_pipeline_job_or_a_job_of_another_kind_is_not_overwritten():
    with pytest.raises(UserError, match=r"is a plain Pipeline job \(<flow-definition>\), not a Multibranch"):
        sync_plan("<flow-definition><definition/></flow-definition>", job_config_xml(CONFIGURED), "ml")
    with pytest.raises(UserError, match="is a <project>, not a Multibranch Pipeline"):
        sync_plan("<project><builders/></project>", job_config_xml(CONFIGURED), "ml")


def test_a_config_that_is_not_xml_cannot_be_compared():
    with pytest.raises(CannotRun, match="not XML"):
        sync_plan("<html>oops", job_config_xml(CONFIGURED), "job")


@pytest.mark.parametrize("branch, item", [("main", "main"), ("feature/x", "feature%2Fx"), ("v1.4.0", "v1.4.0"),
                                          ("a#b?c%", "a%23b%3Fc%25"), (".", "%2E")])
def test_branch_jobs_are_named_as_branch_api_names_them(branch, item):
    assert branch_item_name(branch) == item


def test_rest_paths_follow_jenkins_its_folders_and_branch_jobs():
    main = branch_job(CONFIGURED, "main")
    assert (main.names, main.label) == (("ml-model-service", "main"), "ml-model-service/main")
    assert job_path(main) == "job/ml-model-service/job/main/"
    assert job_path(branch_job(CONFIGURED, "feature/x")) == "job/ml-model-service/job/feature%252Fx/"
    assert job_path(JobRef(("team", "ml model"), "")) == "job/team/job/ml%20model/"
    assert progressive_text_path(main, 7, 120) == "job/ml-model-service/job/main/7/logText/progressiveText?start=120"
    assert input_submit_path(main, 7, "Deploy", approve=True) == "job/ml-model-service/job/main/7/input/Deploy/proceed"
    assert input_submit_path(main, 7, "Deploy", approve=False) == "job/ml-model-service/job/main/7/input/Deploy/abort"
    # Stapler's getSubmittedForm reads the `json` field; with no parameters the submitterParameter still comes back.
    assert PROCEED_FORM == {"json": '{"parameter": []}'}


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


INPUT_ACTION = "org.jenkinsci.plugins.workflow.support.steps.input.InputAction"


def test_pending_inputs_come_from_the_input_actions_executions():
    build = {"number": 7, "actions": [{}, {"_class": "hudson.model.CauseAction"}, {
        "_class": INPUT_ACTION, "waitingForInput": True, "executions": [
            {"id": "Deploy", "settled": False, "input": {"message": "Deploy 1.4.0?", "ok": "Deploy",
                                                         "submitter": "release-managers"}},
            {"id": "Old", "settled": True, "input": {"message": "x"}}]}]}
    assert pending_inputs("ml/main", build) == [
        PendingInput("ml/main", 7, "Deploy", "Deploy 1.4.0?", "Deploy", "release-managers")]
    assert pending_inputs("ml/main", {"number": 8, "actions": [{"_class": "hudson.model.CauseAction"}]}) == []


def test_a_running_build_with_unexported_actions_and_no_input_action_may_hide_an_input():
    # Before 466 the InputAction is {} (no @ExportedBean); other unexported actions look the same.
    assert inputs_unseen({"number": 7, "building": True, "actions": [{}, {"_class": "hudson.model.CauseAction"}]})
    assert not inputs_unseen({"number": 7, "building": False, "actions": [{}]})
    assert not inputs_unseen({"number": 7, "building": True, "actions": [{}, {"_class": INPUT_ACTION,
                                                                              "executions": []}]})
    assert pending_inputs("ml/main", {"number": 7, "building": True, "actions": [{}]}) == []


def test_the_evidence_under_reports():
    build = {"url": "http://j/job/ml/7/", "artifacts": [
        {"relativePath": "reports/acceptance/gates.json"}, {"relativePath": "dist/model.onnx"},
        {"relativePath": "reports/unit/junit.xml"}, {"relativePath": "reports/unit/coverage-html/index.html"},
        {"relativePath": "reports/pipeline.html"}, {"relativePath": "reports/evidence.md"}]}
    assert evidence_links(build) == ["http://j/job/ml/7/artifact/reports/evidence.md",
                                     "http://j/job/ml/7/artifact/reports/pipeline.html",
                                     "http://j/job/ml/7/artifact/reports/acceptance/gates.json",
                                     "http://j/job/ml/7/artifact/reports/unit/junit.xml"]


def test_parameters_are_checked_against_what_the_job_declares():
    declared = {"property": [{"_class": "hudson.model.ParametersDefinitionProperty",
                              "parameterDefinitions": [{"name": "RELEASE"}, {"name": "NOTES"}]}]}
    assert job_parameter_names(declared) == ["RELEASE", "NOTES"]
    assert job_parameter_names({"property": [{"_class": "jenkins.model.BuildDiscarderProperty"}]}) is None
    check_parameters({"RELEASE": "1"}, ["RELEASE", "NOTES"], "ml/main")
    check_parameters({}, None, "ml/main")
    with pytest.raises(UserError, match="ml/main declares no parameters"):
        check_parameters({"RELEASE": "1"}, None, "ml/main")
    with pytest.raises(UserError, match="has no parameter X; it accepts RELEASE, NOTES"):
        check_parameters({"X": "1"}, ["RELEASE", "NOTES"], "ml/main")


def test_choosing_the_input_to_answer():
    deploy7, deploy8 = PendingInput("ml", 7, "Deploy", "", "", None), PendingInput("ml", 8, "Deploy", "", "", None)
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
    refusal = "You need to be release-managers to submit this."
    refused = error_for_failure(_failure(400, refusal, action="approve", subject="input Deploy of build #7",
                                         input_id="Deploy", refusal=refusal), CONNECTION, config)
    assert refused.exit_code == 2
    assert str(refused).startswith(f"Jenkins refused to approve input Deploy of build #7: {refusal} (as alice; "
                                   f"approvers are release-managers and Jenkins administrators")
    forbidden = error_for_failure(_failure(403, "alice is missing the Job/Build permission", action="start"),
                                  CONNECTION, config)
    assert isinstance(forbidden, ConfigError) and "may not start job ml-model-service" in str(forbidden)
    missing_job = error_for_failure(_failure(404), CONNECTION, config)
    assert missing_job.exit_code == 2 and "sync-job" in str(missing_job)
    missing_build = error_for_failure(_failure(404, subject="build #99 of ml-model-service/main",
                                               not_found="build #99 of ml-model-service/main"), CONNECTION, config)
    assert str(missing_build) == "Jenkins at https://jenkins.example.com/ has no build #99 of ml-model-service/main"
    unreachable = error_for_failure(_failure(None, "Connection refused", reached=False), CONNECTION, config)
    assert unreachable.exit_code == 3 and "unreachable" in str(unreachable)
    crumb = error_for_failure(_failure(403, "No valid crumb", bad_crumb=True), CONNECTION, config)
    assert crumb.exit_code == 3 and "crumb" in str(crumb)
    broken = error_for_failure(_failure(500, "java.lang.NullPointerException"), CONNECTION, config)
    assert broken.exit_code == 3 and "HTTP 500" in str(broken)
