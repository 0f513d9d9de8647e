from datetime import datetime, timezone

import pytest

from ci.build_plan import BRANCH_LABEL, PROJECT_LABEL, build_plan_for
from ci.config import Config
from ci.identity import GitFacts, identity_from

COMMIT = "fedcba9876543210fedcba9876543210fedcba98"
COMMITTED = int(datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc).timestamp())


def plan(environ, git=GitFacts(commit=COMMIT, branch="main", commit_time=COMMITTED)):
    identity = identity_from(environ, git, random_suffix="r")
    return build_plan_for(Config(), identity, "base:1", environ)


def test_labels_carry_revision_created_version_title_and_project():
    labels = plan({"BUILD_NUMBER": "5", "BRANCH_NAME": "main", "GIT_URL": "https://git.example/ml.git"}).labels
    assert labels["org.opencontainers.image.revision"] == COMMIT
    assert labels["org.opencontainers.image.created"] == "2026-01-02T03:04:05Z"
    assert labels["org.opencontainers.image.version"] == "fedcba987654"
    assert labels["org.opencontainers.image.title"] == "ml-model-service"
    assert labels["org.opencontainers.image.source"] == "https://git.example/ml.git"
    assert labels[PROJECT_LABEL] == "ml-model-service"
    assert labels[BRANCH_LABEL] == "main"


def test_created_is_the_source_date_so_that_the_same_source_builds_the_same_image():
    assert plan({}).labels == plan({}).labels  # built twice: the same labels, so every build step is a cache hit
    assert plan({"SOURCE_DATE_EPOCH": "0"}).labels["org.opencontainers.image.created"] == "1970-01-01T00:00:00Z"
    dirty = GitFacts(commit=COMMIT, branch="main", dirty=True, commit_time=COMMITTED)
    assert "org.opencontainers.image.created" not in plan({}, dirty).labels  # the commit is not what is built
    assert "org.opencontainers.image.created" not in plan({}, GitFacts()).labels  # no git at all


def test_release_version_label_is_the_semver():
    labels = plan({"TAG_NAME": "v3.1.0", "BRANCH_NAME": "v3.1.0", "BUILD_NUMBER": "1"}).labels
    assert labels["org.opencontainers.image.version"] == "3.1.0"


@pytest.mark.parametrize("url, shown", [
    ("https://ci-bot:ghp_s3cr3tT0ken@git.example/ml.git", "https://git.example/ml.git"),
    ("https://oauth2:glpat-xyz@git.example:8443/team/ml.git", "https://git.example:8443/team/ml.git"),
    ("ssh://git:pa%2Fss@git.example/ml.git", "ssh://git.example/ml.git"),
    ("https://token@git.example/ml.git", "https://git.example/ml.git"),
    ("git@git.example:team/ml.git", "git@git.example:team/ml.git"),  # scp-like: a user name, no secret
])
def test_the_source_label_never_carries_the_checkout_credentials(url, shown):
    # Issue 14, defect 6: GIT_URL may carry user:token@, and the label reaches docker inspect, the registry and
    # reports/build.json.
    assert plan({"GIT_URL": url}).labels["org.opencontainers.image.source"] == shown


def test_empty_labels_are_left_out():
    assert "org.opencontainers.image.source" not in plan({}).labels


def test_build_arguments_pass_base_and_commit_but_nothing_secret_by_default():
    result = plan({"REGISTRY_PASSWORD": "hunter2"})
    assert result.buildargs == {"BASE_IMAGE": "base:1", "GIT_COMMIT": COMMIT}
    assert "hunter2" not in repr(result.as_dict())


def test_private_index_is_passed_to_the_build():
    assert plan({"PIP_INDEX_URL": "https://mirror.example/simple"}).buildargs["PIP_INDEX_URL"] == (
        "https://mirror.example/simple")


def test_references_start_with_the_primary_tag():
    result = plan({})
    assert result.primary_reference() == "ml-model-service:fedcba987654"
    assert result.references() == ["ml-model-service:fedcba987654", "ml-model-service:main-local"]


def test_test_images_share_the_tags_and_say_their_role():
    result = plan({})
    assert result.references("runner") == ["ml-model-service-runner:fedcba987654", "ml-model-service-runner:main-local"]
    assert result.spec("runner").target == "test-runner"
    assert result.spec("model").target == "runtime"
    assert result.spec("postgres").dockerfile == "docker/postgres/Dockerfile"
    assert result.labels_for("runner")["io.mlci.image-role"] == "runner"
    assert "io.mlci.image-role" not in result.labels
