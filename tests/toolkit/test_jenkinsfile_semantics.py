"""What the Jenkinsfile does on a real Jenkins, offline: its `when` conditions evaluated against the environment
each job type gives a build (tests/jenkins_build_environment.py), and the checker's rules (how Jenkins nests
options, agents, locks, timeouts and inputs) each shown to catch a broken copy."""

import re
from pathlib import Path

import pytest

from ci.config import load_config
from ci.jenkins.step_plugins import CORE_STEPS, STEP_PLUGINS, used_names
from ci.pipeline_plan import JENKINS_TARGETS, RELEASE_TAG_REGEXP, deploy_lock
from tests.jenkins_build_environment import (MULTIBRANCH_BRANCH, MULTIBRANCH_CHANGE_REQUEST, MULTIBRANCH_TAG,
                                             PIPELINE, build_environment, checks_out_the_built_revision)
from tests.jenkins_declarative import UnsupportedCondition, compare, load_model, stages_run, walk, when_holds
from tests.toolkit.conftest import REPOSITORY_ROOT

JENKINSFILE = REPOSITORY_ROOT / "Jenkinsfile"
# The Jenkinsfile as it was when issue 12 was filed: green in a plain Pipeline job with every release stage skipped.
BEFORE_ISSUE_12 = Path(__file__).parent / "fixtures" / "Jenkinsfile-before-issue12"
RELEASE_STAGES = ("Push", "Approve", "Deploy", "Staging", "Production")
# Every kind of build a multibranch project runs (branch, tag and change-request heads), and whether it releases.
MULTIBRANCH_BUILDS = [
    (MULTIBRANCH_BRANCH, "main", True),
    (MULTIBRANCH_TAG, "v1.2.3", True),
    (MULTIBRANCH_TAG, "v2.0.0-rc.1", True),
    (MULTIBRANCH_TAG, "v1.2.3+build.5", True),
    (MULTIBRANCH_BRANCH, "feature/login", False),
    (MULTIBRANCH_BRANCH, "Main", False),  # GLOB is case-insensitive: `branch 'main'` would release this one
    (MULTIBRANCH_BRANCH, "main-hotfix", False),
    (MULTIBRANCH_TAG, "nightly", False),
    (MULTIBRANCH_TAG, "v1.2", False),
    (MULTIBRANCH_TAG, "vendor-drop", False),  # `tag 'v*'` would release this one
    (MULTIBRANCH_CHANGE_REQUEST, "PR-12", False),
]


def broken_copy(tmp_path: Path, *replacements: tuple[str, str]) -> Path:
    text = JENKINSFILE.read_text()
    for original, broken in replacements:
        assert original in text, original
        text = text.replace(original, broken)
    copy = tmp_path / "Jenkinsfile"
    copy.write_text(text)
    return copy


def never_true_in_multibranch(model: dict) -> list[str]:
    """Stages whose `when` holds in no multibranch build at all: a condition written for another job type."""
    environments = [build_environment(job_type, head) for job_type, head, _ in MULTIBRANCH_BUILDS]
    found = []
    for stage in walk(model["stages"]):
        if stage["when"] is None:
            continue
        try:
            if not any(when_holds(stage["when"], env) for env in environments):
                found.append(f"stage '{stage['name']}' (line {stage['line']}) never runs in a multibranch build")
        except UnsupportedCondition as error:
            found.append(f"stage '{stage['name']}': {error}")
    return found


def plain_job_outcome(model: dict) -> str:
    """A plain Pipeline job's build (no BRANCH_NAME, TAG_NAME or GIT_*): refused by its first toolkit step, or
    green with the release stages skipped (defect 1)."""
    running = stages_run(model, build_environment(PIPELINE))
    first = next((stage for stage in walk(model["stages"]) if stage["sh"] and running[stage["name"]]), None)
    if first is not None and first["sh"][0] == "python3 -m ci new-run":
        return f"refused by `ci new-run` in {first['name']}"
    skipped = [name for name in RELEASE_STAGES if name in running and not running[name]]
    return "green with " + ", ".join(skipped) + " skipped"


@pytest.fixture(scope="module")
def model(jenkinsfile_check) -> dict:
    found, problems = load_model(JENKINSFILE, jenkinsfile_check)
    assert not problems, problems
    return found


@pytest.mark.parametrize("job_type, head, releases", MULTIBRANCH_BUILDS)
def test_release_stages_run_for_the_release_branch_and_version_tags_only(model, job_type, head, releases):
    running = stages_run(model, build_environment(job_type, head))
    assert {name: running[name] for name in RELEASE_STAGES} == {name: releases for name in RELEASE_STAGES}
    assert all(running[name] for name in ("Build and test", "Checkout", "Unit", "Acceptance"))


def test_the_release_conditions_are_the_release_branch_and_the_version_tag_rule(model):
    release_branch = load_config(REPOSITORY_ROOT, environ={}).project.release_branch
    for stage in (stage for stage in walk(model["stages"]) if stage["when"]):
        [any_of] = stage["when"]["conditions"]
        assert [(child["kind"], child["args"]["named"]) for child in any_of["children"]] == [
            ("branch", {"pattern": release_branch, "comparator": "EQUALS"}),
            ("tag", {"pattern": RELEASE_TAG_REGEXP, "comparator": "REGEXP"})], stage["name"]


def test_a_plain_pipeline_job_is_refused_at_its_first_toolkit_step(model):
    assert plain_job_outcome(model) == "refused by `ci new-run` in Checkout"
    checkout = next(walk(model["stages"][0]["stages"]))
    assert checkout["name"] == "Checkout" and checkout["when"] is None


def test_the_jenkinsfile_before_issue_12_passes_green_in_a_plain_job_and_the_check_says_so(jenkinsfile_check):
    # Defect 1: what the checks did not see. The old conditions hold in multibranch main, never in a plain job.
    old, problems = load_model(BEFORE_ISSUE_12, jenkinsfile_check)
    assert plain_job_outcome(old) == "green with Push, Approve, Deploy, Staging, Production skipped"
    assert stages_run(old, build_environment(MULTIBRANCH_BRANCH, "main"))["Deploy"]
    assert any("stage 'Deploy' allocates its agent before its when" in problem for problem in problems)


def test_every_build_that_deploys_checks_out_the_revision_it_built(model):
    # Defect 9: Deploy's `checkout scm` runs days after Checkout's; only multibranch pins the revision.
    for job_type, head, _ in MULTIBRANCH_BUILDS + [(PIPELINE, "main", False)]:
        if stages_run(model, build_environment(job_type, head))["Deploy"]:
            assert checks_out_the_built_revision(job_type), (job_type, head)
    assert not checks_out_the_built_revision(PIPELINE)


def test_every_condition_can_be_true_in_a_multibranch_build(model):
    assert never_true_in_multibranch(model) == []


@pytest.mark.parametrize("original, broken, expected", [
    # A plain job's GIT_BRANCH spelling: BRANCH_NAME never carries the remote.
    ("branch pattern: 'main', comparator: 'EQUALS'", "branch 'origin/main'", "stage 'Push' (line"),
    ("branch pattern: 'main', comparator: 'EQUALS'", "environment name: 'GIT_BRANCH', value: 'origin/main'",
     "stage 'Approve' (line"),
    ("branch pattern: 'main', comparator: 'EQUALS'", "expression { env.GIT_BRANCH == 'origin/main' }",
     "stage 'Deploy': line"),
])
def test_a_condition_that_cannot_hold_in_a_multibranch_build_is_reported(jenkinsfile_check, tmp_path, original,
                                                                         broken, expected):
    # The version pattern compared as a plain string matches no tag either.
    copy = broken_copy(tmp_path, (original, broken), ("comparator: 'REGEXP'", "comparator: 'EQUALS'"))
    broken_model, _ = load_model(copy, jenkinsfile_check)
    assert any(problem.startswith(expected) for problem in never_true_in_multibranch(broken_model)), \
        never_true_in_multibranch(broken_model)


def test_each_environment_lock_is_the_one_every_deploying_job_shares(model):
    project = load_config(REPOSITORY_ROOT, environ={}).project.name
    deploy = next(stage for stage in model["stages"] if stage["name"] == "Deploy")
    for target, stage in zip(JENKINS_TARGETS, deploy["stages"]):
        [lock] = [option for option in stage["options"] if option["name"] == "lock"]
        assert lock["args"]["named"] == {"resource": deploy_lock(project, target.environment)}, stage["name"]
        assert any(f"deploy --env {target.environment}" in step for step in stage["sh"])


def test_a_newer_approved_build_supersedes_older_ones_and_never_deploys_before_them(model):
    # pipeline-milestone-step MilestoneStepExecution.getBuildsToCancel: passing ordinal N aborts older builds
    # of the job that have passed none or a lower one. After the input (not before it: a rejected newer build
    # would then abort the older ones still waiting); in each deploy stage inside the lock, after the checks that
    # can refuse the build (`ci approve --jenkins-input`) and before the deploy.
    approve = next(stage for stage in model["stages"] if stage["name"] == "Approve")
    assert [node["name"] for node in approve["tree"]][-1] == "milestone"
    assert approve["steps"].index("input") < approve["steps"].index("milestone")
    deploy = next(stage for stage in model["stages"] if stage["name"] == "Deploy")
    ordinals = [node["args"]["named"]["ordinal"] for stage in [approve, *deploy["stages"]]
                for node in nodes_in_order(stage["tree"]) if node["name"] == "milestone"]
    assert ordinals == sorted(set(ordinals)) and len(ordinals) == 3
    for stage in deploy["stages"]:
        assert "lock" in [option["name"] for option in stage["options"]]
        order = [describe(node) for node in nodes_in_order(stage["tree"]) if node["name"] in ("sh", "milestone")]
        approve_at = next(index for index, step in enumerate(order) if "approve --jenkins-input" in step)
        milestone_at = next(index for index, step in enumerate(order) if step == "milestone")
        deploy_at = next(index for index, step in enumerate(order) if " deploy --env" in step)
        assert approve_at < milestone_at < deploy_at, order


def nodes_in_order(nodes: list[dict]) -> list[dict]:
    """Every step of a stage's tree in the order it runs (a block's body after the block's own node)."""
    return [item for node in nodes for item in (node, *nodes_in_order(node["body"]))]


def describe(node: dict) -> str:
    return node["name"] if node["name"] != "sh" else f"sh {node['args']}"


def shell_steps_outside_a_timeout(nodes: list[dict], covered: bool = False) -> list[int]:
    lines = []
    for node in nodes:
        if node["name"] == "sh" and not covered:
            lines.append(node["line"])
        lines += shell_steps_outside_a_timeout(node["body"], covered or node["name"] == "timeout")
    return lines


def test_every_toolkit_step_runs_under_a_timeout_that_does_not_count_waiting_for_an_agent(model):
    for stage in walk(model["stages"]):
        options = [option["name"] for option in stage["options"]]
        covered = "timeout" in options and stage["agent"] is None  # an option would wrap the stage's agent
        assert shell_steps_outside_a_timeout(stage["tree"], covered) == [], stage["name"]
        for condition, nodes in stage["post"].items():
            assert shell_steps_outside_a_timeout(nodes) == [], (stage["name"], condition)
    assert not [option for option in model["options"] if option["name"] == "timeout"]


DEPLOY_WHEN = "stage('Deploy') {\n            when {\n                beforeAgent true\n"
STAGING_LOCK = "lock(resource: 'ml-model-service-deploy-staging')"


@pytest.mark.parametrize("replacements, expected", [
    # Defect 13: the agent is allocated before the when is evaluated.
    ([(DEPLOY_WHEN, "stage('Deploy') {\n            agent { label 'docker' }\n            when {\n")],
     r"line \d+: stage 'Deploy' allocates its agent before its when is evaluated"),
    ([("stage('Staging') {\n", "stage('Staging') {\n when { branch 'main' }\n")],
     r"stage 'Staging' takes its lock before its when is evaluated"),
    # Defect 6: a lock per job is no lock.
    ([(STAGING_LOCK, 'lock(resource: "${env.JOB_NAME}-staging")')],
     r'line \d+: lock resource "\$env.JOB_NAME-staging" depends on JOB_NAME'),
    ([(STAGING_LOCK, 'lock("deploy-${BRANCH_NAME}")')], r"depends on BRANCH_NAME"),
    # Defect 3: the next build waits (or aborts the release) while one waits for approval.
    ([("timestamps()\n", "timestamps()\n        disableConcurrentBuilds()\n")],
     r"line \d+: disableConcurrentBuilds\(\) with an input \(line \d+\)"),
    ([("timestamps()\n", "timestamps()\n        disableConcurrentBuilds(abortPrevious: true)\n")],
     r"disableConcurrentBuilds\(\) with an input"),
    # Defect 11: the pipeline-level timeout ends the build before the input's own does.
    ([("timestamps()\n", "timestamps()\n        timeout(time: 3, unit: 'DAYS')\n")],
     r"line \d+: the pipeline-level timeout \(4320 minutes\) ends the build before the input's own timeout"),
    ([("timeout(time: 3, unit: 'DAYS') {\n                    script {", "retry(1) {\n                    script {")],
     r"line \d+: input waits without a timeout"),
    # Defect 13: a timeout option on a stage with an agent counts the queue.
    ([("agent { label 'docker' }\n            stages {",
       "agent { label 'docker' }\n            options { timeout(time: 90, unit: 'MINUTES') }\n            stages {")],
     r"stage 'Build and test''s timeout option also counts the time queued for its agent"),
])
def test_each_rule_catches_its_broken_copy(jenkinsfile_check, tmp_path, replacements, expected):
    copy = broken_copy(tmp_path, *replacements)
    _, problems = load_model(copy, jenkinsfile_check)
    assert any(re.search(expected, problem) for problem in problems), problems


def test_a_pipeline_timeout_longer_than_the_approval_wait_is_no_rule_break(jenkinsfile_check, tmp_path):
    copy = broken_copy(tmp_path, ("timestamps()\n", "timestamps()\n        timeout(time: 4, unit: 'DAYS')\n"))
    _, problems = load_model(copy, jenkinsfile_check)
    assert problems == []


@pytest.mark.parametrize("comparator, pattern, actual, matches", [
    (None, "main", "MAIN", True),  # GLOB (the default) ignores case
    ("GLOB", "release/*", "release/1.2", True),
    ("GLOB", "release/*", "release/1.2/fix", False),  # '*' stays within one segment
    ("GLOB", "release/**", "release/1.2/fix", True),
    ("GLOB", "v?.*", "v1.x", True),
    ("EQUALS", "main", "MAIN", False),
    ("REGEXP", "v\\d+", "v12", True),
    ("REGEXP", "v\\d+", "v12-rc", False),  # String.matches: the whole value
    ("BOGUS", "ma*", "main", True),  # an unknown comparator name falls back to GLOB
])
def test_the_comparators_behave_as_pipeline_model_definitions(comparator, pattern, actual, matches):
    assert compare(comparator, pattern, actual) is matches


def called_names(model: dict) -> set[str]:
    """Every step, option, trigger and agent name in the model: the step trees (a block's body and the calls in
    each step's arguments, such as usernamePassword or flake8), post blocks, options (with their argument calls,
    such as logRotator) and triggers, of the pipeline and of every stage."""
    def tree(nodes: list[dict]):
        for node in nodes:
            yield node["name"]
            yield from tree(node["body"])

    def section(part: dict):
        for option in part["options"] + part.get("triggers", []):
            yield option["name"]
            yield from option["calls"]
        for nodes in part["post"].values():
            yield from tree(nodes)
        yield from tree(part.get("tree", []))
        if part.get("agent") and part["agent"]["kind"] not in (None, "none", "any"):
            yield part["agent"]["kind"]
    return {name for part in [model, *walk(model["stages"])] for name in section(part)}


def test_doctor_knows_the_plugin_of_every_step_option_and_trigger_the_jenkinsfile_calls(model):
    names = called_names(model)
    assert {"recordCoverage", "recordIssues", "flake8", "usernamePassword", "sshUserPrivateKey", "file",
            "logRotator", "archiveArtifacts", "label"} <= names
    assert sorted(names - set(STEP_PLUGINS) - CORE_STEPS) == [], "add each to ci/jenkins/step_plugins.py"
    # What doctor reads from the text (it runs where groovy may not) sees every one of them.
    assert sorted(names - set(used_names(JENKINSFILE.read_text()))) == []


def test_a_step_doctor_does_not_know_is_caught(jenkinsfile_check, tmp_path):
    copy = broken_copy(tmp_path, ("sh 'python3 -m ci lint'", "sh 'python3 -m ci lint'\n slackSend(message: 'x')"))
    found, _ = load_model(copy, jenkinsfile_check)
    assert sorted(called_names(found) - set(STEP_PLUGINS) - CORE_STEPS) == ["slackSend"]
