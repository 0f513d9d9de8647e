import pytest

from ci.identity import GitFacts, identity_from, slug
from ci.tagging import image_tags_for, semver_from_git_tag

COMMIT = "0123456789abcdef0123456789abcdef01234567"
GIT = GitFacts(commit=COMMIT, branch="main")


def tags(environ, git=GIT):
    return image_tags_for(identity_from(environ, git, random_suffix="abc123"))


def test_jenkins_main_build():
    assert tags({"BUILD_NUMBER": "42", "BRANCH_NAME": "main", "GIT_COMMIT": COMMIT}) == ["0123456789ab", "main-42"]


def test_local_build_uses_a_local_marker_instead_of_a_build_number():
    assert tags({}) == ["0123456789ab", "main-local"]


def test_feature_branch_with_odd_characters_is_slugged():
    result = tags({"BUILD_NUMBER": "7", "BRANCH_NAME": "feature/JIRA-12_New Model!!"})
    assert result[1] == "feature-jira-12_new-model-7"


def test_tags_only_use_valid_docker_tag_characters():
    import re

    for tag in tags({"BUILD_NUMBER": "7", "BRANCH_NAME": "--weird//..branch@@--"}):
        assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", tag), tag


def test_release_tag_adds_the_semver():
    result = tags({"BUILD_NUMBER": "9", "BRANCH_NAME": "v1.4.2", "TAG_NAME": "v1.4.2"})
    assert result == ["0123456789ab", "v1.4.2-9", "1.4.2"]


def test_semver_build_metadata_becomes_a_valid_tag():
    result = tags({}, GitFacts(commit=COMMIT, branch="", exact_tag="v2.0.0-rc.1+build.5"))
    assert result[-1] == "2.0.0-rc.1_build.5"


@pytest.mark.parametrize("git_tag", ["1.2.3", "release-1", "v1.2", ""])
def test_non_release_tags_add_nothing(git_tag):
    assert semver_from_git_tag(git_tag) == ""


def test_detached_head_without_ci_variables():
    assert tags({}, GitFacts(commit=COMMIT, branch="")) == ["0123456789ab", "detached-local"]


def test_git_branch_with_remote_prefix_from_plain_pipeline_jobs():
    assert tags({"BUILD_NUMBER": "3", "GIT_BRANCH": "origin/release/2.x"})[1] == "release-2.x-3"


def test_missing_commit_is_visible_not_invented():
    assert tags({}, GitFacts())[0] == "nocommit"


def test_dirty_local_tree_is_marked_in_tag_and_revision():
    identity = identity_from({}, GitFacts(commit=COMMIT, branch="main", dirty=True), random_suffix="x")
    assert image_tags_for(identity)[0] == "0123456789ab-dirty"
    assert identity.revision == COMMIT + "-dirty"


def test_jenkins_builds_are_never_dirty():
    identity = identity_from({"BUILD_NUMBER": "1"}, GitFacts(commit=COMMIT, dirty=True))
    assert not identity.dirty


def test_latest_is_never_a_tag():
    for environ in ({}, {"BUILD_NUMBER": "1", "BRANCH_NAME": "latest"}):
        assert "latest" not in tags(environ)


def test_run_id_is_unique_locally_and_from_build_tag_under_jenkins():
    first = identity_from({}, GIT).run_id
    second = identity_from({}, GIT).run_id
    assert first != second and first.startswith("local-")
    jenkins = identity_from({"BUILD_TAG": "jenkins-ml/model-main-42"}, GIT).run_id
    assert jenkins == "jenkins-ml-model-main-42"


def test_slug_never_returns_empty():
    assert slug("///") == "x"
