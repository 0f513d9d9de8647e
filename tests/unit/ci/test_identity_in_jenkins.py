"""Identity and `in_ci` with the environment each kind of Jenkins build really gets, and on a laptop."""

import sys

import pytest

from ci.commands import approve, pipeline
from ci.config import Config
from ci.context import Context
from ci.identity import GitFacts, identity_from, in_ci
from ci.tagging import image_tags_for
from tests.jenkins_build_environment import MULTIBRANCH_BRANCH, build_environment
from tests.jenkins_build_environment import MULTIBRANCH_TAG as MULTIBRANCH_TAG_JOB

COMMIT = "0123456789abcdef0123456789abcdef01234567"
OTHER = "fedcba9876543210fedcba9876543210fedcba98"

# What a multibranch build's `sh` step sees, from the cited model of each job type's environment.
MULTIBRANCH_MAIN = build_environment(MULTIBRANCH_BRANCH, "main", build_number=42)
MULTIBRANCH_TAG = build_environment(MULTIBRANCH_TAG_JOB, "v1.4.2", build_number=1)
# The git plugin checks a commit out detached: git knows no branch.
DETACHED = GitFacts(commit=COMMIT, branch="", exact_tag="")


def tags(environ, git=DETACHED):
    return image_tags_for(identity_from(environ, git, random_suffix="r"))


def test_multibranch_branch_build_takes_the_commit_from_head_and_the_branch_from_branch_name():
    identity = identity_from(MULTIBRANCH_MAIN, DETACHED)
    assert (identity.commit, identity.branch, identity.git_tag) == (COMMIT, "main", "")
    assert tags(MULTIBRANCH_MAIN) == ["0123456789ab", "main-42"]


def test_multibranch_tag_build_is_tagged_with_its_version_not_detached():
    assert tags(MULTIBRANCH_TAG, GitFacts(commit=COMMIT, exact_tag="v1.4.2")) == ["0123456789ab", "v1.4.2-1", "1.4.2"]


def test_a_branch_build_of_a_tagged_commit_does_not_claim_the_release_version():
    # Only the tag's own build (TAG_NAME) publishes 1.4.2; main's build of the same commit must not race it.
    assert tags(MULTIBRANCH_MAIN, GitFacts(commit=COMMIT, exact_tag="v1.4.2")) == ["0123456789ab", "main-42"]


def test_the_work_tree_head_is_the_commit_built_even_if_a_git_commit_variable_says_otherwise():
    assert identity_from({**MULTIBRANCH_MAIN, "GIT_COMMIT": OTHER}, DETACHED).commit == COMMIT
    assert identity_from({"GIT_COMMIT": OTHER}, GitFacts()).commit == OTHER  # no git: the variable is all there is


@pytest.mark.parametrize("environ, expected", [
    ({}, False),
    ({"JENKINS_URL": "https://jenkins.example.com/"}, False),  # a laptop using `ci jenkins`
    ({"CI": "true"}, True),
    ({"BUILD_NUMBER": "3", "JENKINS_URL": "https://jenkins.example.com/"}, True),
    (MULTIBRANCH_MAIN, True),
])
def test_in_ci(environ, expected):
    assert in_ci(environ) is expected


class Terminal:
    def __init__(self, answer: str):
        self.answer = answer

    def isatty(self) -> bool:
        return True

    def readline(self) -> str:
        return self.answer


def laptop_context(tmp_path) -> Context:
    return Context(root=tmp_path, config=Config(), environ={"JENKINS_URL": "https://jenkins.example.com/",
                                                            "USER": "rm", "CI_RUN_ID": "local-run"})


def test_jenkins_url_on_a_laptop_lets_ci_approve_ask_the_person(tmp_path, monkeypatch, capsys):
    ctx = laptop_context(tmp_path)
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "evidence.json").write_text(
        '{"run": "local-run", "blockers": [], "tests": [], "coverage": {}, "lint": {}, "gates": null,'
        ' "comparisons": [], "candidate": {"image": "m:1", "image_id": "sha256:1", "digest": null,'
        ' "model_version": "1"}}')
    monkeypatch.setattr(sys, "stdin", Terminal("y\n"))
    outcome = approve.run(type("Args", (), {"yes": False, "jenkins_input": False})(), ctx)
    assert outcome.exit_code == 0 and "Deploy m:1" in capsys.readouterr().out


def test_jenkins_url_on_a_laptop_lets_ci_pipeline_prompt(tmp_path, monkeypatch):
    ctx = laptop_context(tmp_path)
    monkeypatch.setattr(sys, "stdin", Terminal(""))
    monkeypatch.setattr(pipeline, "_run_stages", lambda selection, args, ctx: "ran")
    args = type("Args", (), {"env": [], "only": ["Approve"], "start": None, "until": None, "skip": [],
                             "dry_run": False, "yes": False})()
    assert pipeline.run(args, ctx) == "ran"
