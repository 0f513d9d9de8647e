"""In CI a deploy needs this run's approval, of the evidence on disk, by the approver it is given; outside CI a
missing approval is allowed and recorded as such. The check is a pure function; `ci deploy` calls it before it
touches any host (fakes below: the engine and SSH fail the test if reached)."""

import hashlib
import json
import tomllib
from types import SimpleNamespace

import pytest

from ci.approval import approval_problem, deploy_approval
from ci.commands import approve, deploy
from ci.config import Config, config_from_mapping
from ci.context import Context
from ci.deploy.plan import Release
from ci.errors import UserError
from ci.identity import BuildIdentity
from ci.target_host_plan import environment_toml

RUN = "jenkins-ml-model-main-42"
EVIDENCE = b'{"candidate": {"image_id": "sha256:1"}, "run": "jenkins-ml-model-main-42"}\n'
EVIDENCE_SHA = hashlib.sha256(EVIDENCE).hexdigest()


def approval(**changes) -> dict:
    return {"approved": True, "approved_by": "alice", "answered_by": "alice", "image_id": "sha256:1",
            "evidence_sha256": EVIDENCE_SHA, "run": RUN, **changes}


@pytest.fixture
def ci_deploy(tmp_path, monkeypatch):
    """`ci deploy --env staging` in CI, up to the first thing that would touch the engine or a host."""
    config = Config()
    config.environments["staging"] = SimpleNamespace(hosts=("deploy@10.0.0.5:22",), public_urls=("http://a",),
                                                     local_target=False, public_port=8080, batch_size=1,
                                                     database_url_variable="",
                                                     approval_required=True)
    ctx = Context(root=tmp_path, config=config, environ={"BUILD_TAG": RUN, "CI": "true"})
    ctx.__dict__["identity"] = BuildIdentity(commit="0" * 40, branch="main", build_number="", git_tag="",
                                             dirty=False, run_id=RUN)
    ctx.__dict__["report_run"] = RUN
    release = Release(release_id="20260101T000000-abc", image_id="sha256:1", digest="sha256:1", model_version="1",
                      commit="0" * 40)
    monkeypatch.setattr(deploy, "release_for", lambda ctx, image, now: (release, {"pull_reference": "",
                                                                                  "registry": ""}))

    class Touched(Exception):
        pass

    def touched(*args, **kwargs):
        raise Touched("the deploy went on to the engine and the hosts")

    monkeypatch.setattr(deploy.docker_engine, "connect", touched)
    monkeypatch.setattr(deploy, "SshHost", touched)
    (tmp_path / "reports").mkdir()

    def run(approved_by: str = "", report: dict | None = None, evidence: bytes | None = EVIDENCE,
            approval_required: bool = True, **environ):
        config.environments["staging"].approval_required = approval_required
        if report is not None:
            (tmp_path / "reports" / "approval.json").write_text(json.dumps(report))
        if evidence is not None:
            (tmp_path / "reports" / "evidence.json").write_bytes(evidence)
        ctx.environ.update(environ)
        return deploy.run(SimpleNamespace(env="staging", image=None, approved_by=approved_by, dry_run=False,
                                          if_configured=False), ctx)

    return run, Touched


def test_in_ci_a_deploy_given_an_approver_the_approval_does_not_name_is_refused_before_any_host(ci_deploy):
    run, _ = ci_deploy
    with pytest.raises(UserError) as refused:
        run(approved_by="mallory", report=approval())
    assert "mallory" in str(refused.value) and "alice" in str(refused.value)


def test_in_ci_a_deploy_without_an_approval_is_refused(ci_deploy):
    run, _ = ci_deploy
    with pytest.raises(UserError, match="approval.json is missing"):
        run(approved_by="alice")


def test_in_ci_a_deploy_whose_approver_matches_goes_on_to_the_hosts(ci_deploy):
    run, touched = ci_deploy
    with pytest.raises(touched):
        run(report=approval(), APPROVED_BY="alice")


def test_outside_ci_a_deploy_without_approval_goes_on_and_the_audit_record_says_so(ci_deploy):
    run, touched = ci_deploy
    with pytest.raises(touched):
        run(CI="", BUILD_TAG="")
    verdict = deploy_approval(None, "", "", False, run=RUN)
    assert verdict.problem == ""
    assert verdict.audit_fields() == {"approved_by": "", "approval_evidence_sha256": "",
                                      "approval": "not verified (a deploy outside CI): no approver given: in CI a "
                                                  "deploy needs the approver of this run's approval (--approved-by "
                                                  "or APPROVED_BY, which the Approve stage sets)"}


def test_an_environment_that_needs_no_approval_deploys_in_ci_without_one(ci_deploy):
    run, touched = ci_deploy
    with pytest.raises(touched):
        run(approval_required=False)


# ── the check itself (pure) ──────────────────────────────────────────────────────────────────────────────────

@pytest.mark.parametrize("report, approved_by, evidence, image, expected", [
    (approval(), "alice", EVIDENCE_SHA, "sha256:1", ""),
    (approval(), "", EVIDENCE_SHA, "", "no approver given"),
    (approval(), "  ", EVIDENCE_SHA, "", "no approver given"),
    (None, "alice", EVIDENCE_SHA, "", "reports/approval.json is missing"),
    (approval(), "bob", EVIDENCE_SHA, "", "the approver given (bob) is not the approver reports/approval.json "
                                          "records (alice)"),
    (approval(run="jenkins-ml-model-main-41"), "alice", EVIDENCE_SHA, "",
     f"reports/approval.json is from run jenkins-ml-model-main-41, not this run ({RUN})"),
    (approval(run=None), "alice", EVIDENCE_SHA, "", "is from run (none)"),
    (approval(approved=False, approved_by="", answered_by="carol"), "alice", EVIDENCE_SHA, "",
     "records no approval (carol answered no)"),
    (approval(), "alice", "f" * 64, "", "reports/evidence.json changed since it was approved"),
    (approval(), "alice", "", "", "reports/evidence.json is missing"),
    (approval(), "alice", EVIDENCE_SHA, "sha256:2", "the approval is for image sha256:1, not the image deployed"),
])
def test_approval_problem_in_ci(report, approved_by, evidence, image, expected):
    problem = approval_problem(report, approved_by, evidence, True, run=RUN, image_id=image)
    assert (problem == "") if expected == "" else (expected in problem), problem


def test_approval_problem_outside_ci_is_never_a_refusal():
    assert approval_problem(None, "", "", False, run=RUN) == ""
    assert approval_problem(approval(), "bob", "", False, run=RUN) == ""


def test_a_verified_approval_is_recorded_with_the_evidence_it_approved():
    verdict = deploy_approval(approval(), "alice", EVIDENCE_SHA, True, run=RUN, image_id="sha256:1")
    assert verdict.audit_fields() == {"approved_by": "alice", "approval_evidence_sha256": EVIDENCE_SHA,
                                      "approval": "verified against reports/approval.json of this run"}


# ── ci approve --jenkins-input: the Jenkinsfile's deploy stages record what the input step returned ─────────

def jenkins(tmp_path, **environ) -> Context:
    ctx = Context(root=tmp_path, config=Config(), environ={"BUILD_TAG": RUN, "BUILD_NUMBER": "42", "CI": "true",
                                                           **environ})
    ctx.__dict__["report_run"] = RUN
    (tmp_path / "reports").mkdir(exist_ok=True)
    (tmp_path / "reports" / "evidence.json").write_text(json.dumps(
        {"run": RUN, "blockers": [], "candidate": {"image": "m:1", "image_id": "sha256:1", "model_version": "1"}}))
    return ctx


def test_jenkins_input_records_the_inputs_approver_of_the_evidence_on_disk(tmp_path):
    ctx = jenkins(tmp_path, APPROVED_BY="alice")
    outcome = approve.run(SimpleNamespace(yes=False, jenkins_input=True), ctx)
    assert outcome.exit_code == 0 and "alice approved m:1" in outcome.summary
    recorded = json.loads((tmp_path / "reports" / "approval.json").read_text())
    evidence_now = hashlib.sha256((tmp_path / "reports" / "evidence.json").read_bytes()).hexdigest()
    assert recorded["approved_by"] == "alice" and recorded["evidence_sha256"] == evidence_now
    assert approval_problem(recorded, "alice", evidence_now, True, run=RUN, image_id="sha256:1") == ""


def test_jenkins_input_refuses_a_build_whose_approve_stage_did_not_run(tmp_path):
    with pytest.raises(UserError, match="APPROVED_BY is empty"):
        approve.run(SimpleNamespace(yes=False, jenkins_input=True), jenkins(tmp_path))
    assert not (tmp_path / "reports" / "approval.json").exists()


def test_jenkins_input_is_refused_outside_a_jenkins_build(tmp_path):
    ctx = jenkins(tmp_path, APPROVED_BY="alice", BUILD_NUMBER="")
    with pytest.raises(UserError, match="only in a Jenkins build"):
        approve.run(SimpleNamespace(yes=False, jenkins_input=True), ctx)


def test_hosts_this_machine_starts_for_tests_need_no_approval_and_configured_ones_do():
    table = environment_toml("test", ["root@127.0.0.1:2201"], ["http://127.0.0.1:18080"], 8080, "k", "kh")
    generated = config_from_mapping(tomllib.loads(table), "test").environments["test"]
    configured = config_from_mapping({"environments": {"production": {
        "hosts": ["deploy@10.0.0.11:22"], "public_urls": ["http://10.0.0.11:8080"]}}}, "ci.toml")
    assert generated.approval_required is False
    assert configured.environments["production"].approval_required is True
