"""Reports belong to their run: reports/run.json, the "run" of every report, and what `ci report`, `ci evidence`
and `ci approve` do with a file an earlier run left in the reused workspace."""

import json
import sys
from types import SimpleNamespace

import pytest

from ci import reports
from ci.commands import approve, evidence, new_run, pipeline, report
from ci.config import Config, load_config
from ci.context import Context
from ci.errors import CannotRun, ConfigError
from ci.test_results import tier_results
from tests.jenkins_build_environment import (MULTIBRANCH_BRANCH, MULTIBRANCH_CHANGE_REQUEST, MULTIBRANCH_TAG, PIPELINE,
                                             build_environment)

THIS_RUN = "jenkins-ml-model-main-42"
EARLIER_RUN = "jenkins-ml-model-main-41"
JUNIT = '<testsuite name="{0}" tests="3" failures="0" errors="0" skipped="0" time="1.0"></testsuite>'
METADATA = {"model_version": "1.0.0", "metrics": {"accuracy": 0.95}}


def context(root, **environ) -> Context:
    return Context(root=root, config=Config(), environ=environ)


def jenkins_context(root) -> Context:
    return context(root, BUILD_NUMBER="42", BUILD_TAG=THIS_RUN, BRANCH_NAME="main", CI="true")


def write(root, relative: str, data: dict) -> None:
    path = root / "reports" / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def build_report(run: str | None, revision: str = "c0ffee") -> dict:
    report = {"image": "m:1", "revision": revision, "tags": ["c0ffee"], "labels": {},
              "images": {"model": {"image_id": "sha256:1", "reference": "m:1", "references": ["m:1"],
                                   "labels": {}}}}
    return {**report, "run": run} if run else report


def tier(root, name: str, run: str | None) -> None:
    (root / "reports" / name).mkdir(parents=True, exist_ok=True)
    (root / "reports" / name / "junit.xml").write_text(JUNIT.format(name))
    if run:
        reports.write_json_report(root, f"{name}/{reports.TIER_STAMP}", {"tier": name, "files": ["junit.xml"]}, run)


def this_runs_reports(root) -> None:
    """What this build wrote: build.json, lint, unit and acceptance (with gates), all stamped THIS_RUN."""
    write(root, "build.json", build_report(THIS_RUN))
    write(root, "lint/summary.json", {"findings": 0, "run": THIS_RUN})
    tier(root, "unit", None)
    write(root, "acceptance/gates.json", {"passed": True, "gates": {}})
    tier(root, "acceptance", None)
    reports.stamp_tier(root, "unit", "unit", THIS_RUN)
    reports.stamp_tier(root, "acceptance", "acceptance", THIS_RUN)


@pytest.fixture
def no_engine(monkeypatch):
    monkeypatch.setattr(evidence.docker_engine, "connect", lambda: None)
    monkeypatch.setattr(evidence.docker_engine, "read_file_from_image", lambda client, image, path:
                        json.dumps(METADATA))


# ── the run id ───────────────────────────────────────────────────────────────────────────────────────────────

def test_the_run_is_build_tag_then_ci_run_id_then_the_recorded_one(tmp_path):
    write(tmp_path, "run.json", {"run": "local-recorded"})
    assert reports.current_run(tmp_path, {"BUILD_TAG": THIS_RUN, "CI_RUN_ID": "local-x"}) == THIS_RUN
    assert reports.current_run(tmp_path, {"CI_RUN_ID": "local-x"}) == "local-x"
    assert reports.current_run(tmp_path, {}) == "local-recorded"


def test_a_command_run_on_its_own_begins_a_local_run_and_the_next_one_continues_it(tmp_path):
    first = reports.current_run(tmp_path, {})
    assert first.startswith("local-") and reports.recorded_run(tmp_path) == first
    assert reports.current_run(tmp_path, {}) == first


def test_report_run_is_not_the_per_process_run_id(tmp_path):
    one, two = context(tmp_path), context(tmp_path)
    assert one.report_run == two.report_run
    assert one.identity.run_id != two.identity.run_id  # compose projects of concurrent commands never collide


def test_every_json_report_records_its_run_without_touching_the_callers_dict(tmp_path):
    data = {"a": 1}
    reports.write_json_report(tmp_path, "x/y.json", data, THIS_RUN)
    assert reports.read_json_report(tmp_path, "x/y.json") == {"a": 1, "run": THIS_RUN} and data == {"a": 1}


def test_a_tier_stamp_vouches_for_the_files_pytest_left(tmp_path):
    tier(tmp_path, "integration", None)
    (tmp_path / "reports" / "integration" / "coverage.xml").write_text("<coverage/>")
    reports.stamp_tier(tmp_path, "integration", "integration", THIS_RUN)
    stamp = reports.read_json_report(tmp_path, "integration/stamp.json")
    assert stamp == {"tier": "integration", "files": ["coverage.xml", "junit.xml"], "run": THIS_RUN}
    assert tier_results(tmp_path)[0]["run"] == THIS_RUN


# ── ci new-run ───────────────────────────────────────────────────────────────────────────────────────────────

def test_new_run_refuses_a_plain_pipeline_job_naming_the_job_type_it_needs(tmp_path):
    write(tmp_path, "build.json", build_report(EARLIER_RUN))
    plain_job = context(tmp_path, **build_environment(PIPELINE))
    with pytest.raises(ConfigError) as refused:
        new_run.run(SimpleNamespace(), plain_job)
    assert refused.value.exit_code == 2
    assert "Multibranch Pipeline job (`python3 -m ci jenkins sync-job` creates one)" in str(refused.value)
    assert "BRANCH_NAME/TAG_NAME are unset and the release stages would be skipped" in str(refused.value)
    assert (tmp_path / "reports" / "build.json").exists()  # nothing is touched


@pytest.mark.parametrize("job_type, head", [(MULTIBRANCH_BRANCH, "main"), (MULTIBRANCH_BRANCH, "feature/x"),
                                            (MULTIBRANCH_TAG, "v1.4.2"), (MULTIBRANCH_CHANGE_REQUEST, "PR-12")])
def test_new_run_accepts_every_build_of_a_multibranch_job(tmp_path, job_type, head):
    environ = build_environment(job_type, head)
    new_run.run(SimpleNamespace(), context(tmp_path, **environ))
    assert reports.recorded_run(tmp_path) == environ["BUILD_TAG"]


def test_new_run_empties_reports_and_records_the_run(tmp_path):
    write(tmp_path, "build.json", build_report(EARLIER_RUN))
    tier(tmp_path, "integration", EARLIER_RUN)
    ctx = context(tmp_path, BUILD_NUMBER="42", BUILD_TAG=THIS_RUN, BRANCH_NAME="main", JOB_NAME="ml/model/main")
    ctx.__dict__["identity"] = ctx.identity.__class__(commit="c0ffee", branch="main", build_number="42",
                                                      git_tag="", dirty=False, run_id="x")
    new_run.run(SimpleNamespace(), ctx)
    assert sorted(path.name for path in (tmp_path / "reports").iterdir()) == ["run.json"]
    record = reports.read_json_report(tmp_path, "run.json")
    assert {key: record[key] for key in ("run", "commit", "branch", "tag", "job", "build")} == {
        "run": THIS_RUN, "commit": "c0ffee", "branch": "main", "tag": "", "job": "ml/model/main", "build": "42"}
    assert record["started"]


# ── ci evidence ──────────────────────────────────────────────────────────────────────────────────────────────

def test_evidence_lists_reports_an_earlier_build_left_as_blockers(tmp_path, no_engine):
    this_runs_reports(tmp_path)
    tier(tmp_path, "integration", EARLIER_RUN)  # this build failed before Integration: its junit is the last one's
    write(tmp_path, "build.json", build_report(EARLIER_RUN))
    evidence.run(SimpleNamespace(env=[]), jenkins_context(tmp_path))
    bundle = reports.read_json_report(tmp_path, "evidence.json")
    assert bundle["run"] == THIS_RUN
    assert bundle["blockers"] == [
        f"reports/build.json is from run {EARLIER_RUN}, not this run ({THIS_RUN})",
        f"reports/integration/stamp.json is from run {EARLIER_RUN}, not this run ({THIS_RUN})"]
    assert f"Run:       {THIS_RUN}" in (tmp_path / "reports" / "evidence.md").read_text()


def test_evidence_blocks_a_tier_directory_no_run_vouches_for(tmp_path, no_engine):
    this_runs_reports(tmp_path)
    tier(tmp_path, "integration", None)
    evidence.run(SimpleNamespace(env=[]), jenkins_context(tmp_path))
    assert reports.read_json_report(tmp_path, "evidence.json")["blockers"] == [
        f"reports/integration/stamp.json is from no recorded run, not this run ({THIS_RUN})"]


def test_evidence_of_one_runs_reports_has_no_run_blocker(tmp_path, no_engine):
    this_runs_reports(tmp_path)
    evidence.run(SimpleNamespace(env=[]), jenkins_context(tmp_path))
    assert reports.read_json_report(tmp_path, "evidence.json")["blockers"] == []


# ── ci approve ───────────────────────────────────────────────────────────────────────────────────────────────

def evidence_bundle(run: str) -> dict:
    return {"run": run, "blockers": [], "tests": [], "coverage": {}, "lint": {}, "gates": None, "comparisons": [],
            "candidate": {"image": "m:1", "image_id": "sha256:1", "digest": None, "model_version": "1"}}


def test_approve_refuses_evidence_from_another_run(tmp_path):
    write(tmp_path, "evidence.json", evidence_bundle(EARLIER_RUN))
    with pytest.raises(CannotRun, match=f"reports/evidence.json is from run {EARLIER_RUN}, not this run"):
        approve.run(SimpleNamespace(yes=True, jenkins_input=False), jenkins_context(tmp_path))
    assert not (tmp_path / "reports" / "approval.json").exists()


def test_approve_records_its_run_with_this_runs_evidence(tmp_path):
    write(tmp_path, "evidence.json", evidence_bundle(THIS_RUN))
    assert approve.run(SimpleNamespace(yes=True, jenkins_input=False), jenkins_context(tmp_path)).exit_code == 0
    assert reports.read_json_report(tmp_path, "approval.json")["run"] == THIS_RUN


# ── ci report ────────────────────────────────────────────────────────────────────────────────────────────────

def test_report_flags_every_file_from_another_run_on_the_page(tmp_path):
    this_runs_reports(tmp_path)
    tier(tmp_path, "integration", EARLIER_RUN)
    write(tmp_path, "deploy.json", {"environment": "staging", "result": "success", "hosts": [], "run": EARLIER_RUN})
    report.run(SimpleNamespace(), jenkins_context(tmp_path))
    page = (tmp_path / "reports" / "pipeline.html").read_text()
    assert 'id="stale"' in page
    assert f"reports/integration/stamp.json is from run {EARLIER_RUN}, not this run ({THIS_RUN})" in page
    assert f"reports/deploy.json is from run {EARLIER_RUN}" in page
    assert "reports/build.json is from" not in page


# ── ci pipeline ──────────────────────────────────────────────────────────────────────────────────────────────

def pipeline_args(**changes):
    fields = dict(env=[], only=[], start=None, until=None, skip=[], dry_run=False, yes=True)
    return SimpleNamespace(**{**fields, **changes})


def test_a_full_local_pipeline_starts_a_new_run_and_hands_it_to_its_stages(tmp_path, monkeypatch):
    write(tmp_path, "run.json", {"run": "local-earlier"})
    write(tmp_path, "build.json", build_report("local-earlier"))
    seen = {}
    monkeypatch.setattr(pipeline, "_run_stages", lambda selection, args, ctx: seen.update(ctx.environ))
    monkeypatch.setattr(sys, "stdin", SimpleNamespace(isatty=lambda: False))
    pipeline.run(pipeline_args(), context(tmp_path))
    run = reports.recorded_run(tmp_path)
    assert run != "local-earlier" and run.startswith("local-") and seen["CI_RUN_ID"] == run
    assert not (tmp_path / "reports" / "build.json").exists()


@pytest.mark.parametrize("partial", [dict(start="Push"), dict(only=["Deploy"]), dict(skip=["Lint"]),
                                     dict(until="Unit")])
def test_a_partial_local_pipeline_continues_the_recorded_run(tmp_path, monkeypatch, partial):
    write(tmp_path, "run.json", {"run": "local-earlier"})
    write(tmp_path, "build.json", build_report("local-earlier"))
    seen = {}
    monkeypatch.setattr(pipeline, "_run_stages", lambda selection, args, ctx: seen.update(ctx.environ))
    pipeline.run(pipeline_args(**partial), context(tmp_path))
    assert seen["CI_RUN_ID"] == "local-earlier" and (tmp_path / "reports" / "build.json").exists()


def test_the_variable_that_hands_the_run_to_stages_is_not_read_as_configuration(tmp_path):
    # MLCI_<SECTION>_<KEY> variables are configuration: a run variable named like one made every stage of the
    # local pipeline fail with "unknown section".
    (tmp_path / "ci.toml").write_text("")
    load_config(tmp_path, {reports.RUN_ID_VARIABLE: "local-x"})
