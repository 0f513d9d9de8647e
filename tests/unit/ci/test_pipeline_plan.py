"""The pipeline's stage list, stage selection (--only/--from/--until/--skip), what a person sees, and the names
the Jenkinsfile shares with the plan (deploy locks, release tags)."""

import re

import pytest

from ci.pipeline_display import board_lines, summary_table
from ci.pipeline_plan import (JENKINS_TARGETS, LOCAL_TARGETS, RELEASE_TAG_REGEXP, DeployTarget, deploy_lock,
                              pipeline_stages, select_stages)
from ci.tagging import semver_from_git_tag

LOCAL = pipeline_stages(LOCAL_TARGETS)


def running(selection):
    return [stage.name for stage, selected in selection if selected]


def test_deploy_runs_once_per_target_and_optional_targets_may_be_missing():
    deploy = pipeline_stages(JENKINS_TARGETS)[-1]
    assert deploy.commands == (("deploy", "--env", "staging"), ("deploy", "--env", "production", "--if-configured"))
    assert LOCAL[-1].commands == (("deploy", "--env", "local"),)


def test_the_evidence_compares_with_every_deploy_environment_before_approval():
    names = [stage.name for stage in LOCAL]
    push = pipeline_stages((DeployTarget("staging"), DeployTarget("production", optional=True)))[names.index("Push")]
    assert push.commands[-1] == ("evidence", "--env", "staging", "--env", "production")
    assert names.index("Push") < names.index("Approve") < names.index("Deploy")
    assert [stage.name for stage in LOCAL if stage.approval] == ["Approve"]


def test_every_stage_runs_by_default():
    assert running(select_stages(LOCAL)) == [stage.name for stage in LOCAL]


def test_only_from_until_and_skip_combine_case_insensitively():
    assert running(select_stages(LOCAL, only=["lint", "Build"])) == ["Lint", "Build"]
    assert running(select_stages(LOCAL, start="build", until="acceptance")) == ["Build", "Integration", "Acceptance"]
    assert running(select_stages(LOCAL, start="Build", skip=["integration", "Approve"])) == [
        "Build", "Acceptance", "Push", "Deploy"]
    assert running(select_stages(LOCAL, until="Setup")) == ["Setup"]


def test_the_selection_keeps_every_stage_in_order_so_the_table_shows_the_skipped_ones():
    selection = select_stages(LOCAL, only=["Deploy"])
    assert [stage.name for stage, _ in selection] == [stage.name for stage in LOCAL]


@pytest.mark.parametrize("kwargs, message", [
    ({"only": ["Lnt"]}, "unknown stage 'Lnt' (stages: Setup, Lint"),
    ({"skip": ["deploy-prod"]}, "unknown stage 'deploy-prod'"),
    ({"start": "Deploy", "until": "Lint"}, "--from Deploy comes after --until Lint"),
])
def test_bad_selections_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        select_stages(LOCAL, **kwargs)


ROWS = [
    {"stage": "Setup", "status": "passed", "seconds": 1.25, "log": "reports/pipeline/setup.log"},
    {"stage": "Lint", "status": "failed", "seconds": 3.0, "log": "reports/pipeline/lint.log"},
    {"stage": "Unit", "status": "not run", "seconds": None, "log": None},
    {"stage": "Build", "status": "skipped", "seconds": None, "log": None},
]


def test_the_board_shows_each_stage_its_status_and_the_running_stages_time_and_latest_line():
    rows = [dict(ROWS[0]), {"stage": "Lint", "status": "running", "seconds": None, "log": None}]
    lines = board_lines(rows, 12.34, "flake8 ci model_app", width=120)
    assert "Setup" in lines[0] and "passed" in lines[0] and "1.2s" in lines[0]
    assert "Lint" in lines[1] and "running" in lines[1] and "12.3s" in lines[1] and "flake8 ci model_app" in lines[1]


def test_the_summary_table_names_every_stage_with_its_result_and_total_time():
    table = summary_table(ROWS)
    assert any(line.startswith("Lint") and "failed" in line and "reports/pipeline/lint.log" in line for line in table)
    assert any(line.startswith("Build") and "skipped" in line for line in table)
    assert table[-1].split() == ["total", "4.2"]


def test_each_environment_has_one_deploy_lock_whatever_job_deploys():
    assert deploy_lock("ml-model-service", "staging") == "ml-model-service-deploy-staging"
    locks = {deploy_lock("p", target.environment) for target in JENKINS_TARGETS}
    assert locks == {"p-deploy-staging", "p-deploy-production"}


@pytest.mark.parametrize("tag", ["v1.2.3", "v2.0.0-rc.1", "v1.2.3+build.5", "v1.2", "V1.2.3", "vendor", "1.2.3"])
def test_jenkins_releases_exactly_the_tags_that_give_the_image_a_version(tag):
    # Jenkins's REGEXP comparator is String.matches: the whole name.
    assert (re.fullmatch(RELEASE_TAG_REGEXP, tag) is not None) == bool(semver_from_git_tag(tag))
