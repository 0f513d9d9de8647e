import json

import pytest

from ci.config import Config, RegistryConfig
from ci.errors import ConfigError
from ci.model_labels import model_labels
from ci.prune_plan import LocalImage, images_to_prune
from ci.push_plan import backoff_delays, credentials_from, is_transient, push_plan_for
from ci.registry import registry_config

BUILD_REPORT = {"image": "ml-model-service:abc123", "tags": ["abc123", "main-7"]}


def test_push_plan_targets_the_configured_registry_with_every_tag():
    config = Config(registry=RegistryConfig(address="registry.example:5000", repository="team/model"))
    plan = push_plan_for(config, BUILD_REPORT)
    assert plan.target_references() == ["registry.example:5000/team/model:abc123",
                                        "registry.example:5000/team/model:main-7"]
    assert plan.by_digest("sha256:ff") == "registry.example:5000/team/model@sha256:ff"
    assert plan.source_image == "ml-model-service:abc123"


@pytest.mark.parametrize("message", [
    'Get "http://127.0.0.1:5000/v2/": dial tcp 127.0.0.1:5000: connect: connection refused',
    "received unexpected HTTP status: 503 Service Unavailable",
    "net/http: TLS handshake timeout",
    "toomanyrequests: rate limit exceeded",
    "unexpected EOF",
])
def test_network_and_server_errors_are_retried(message):
    assert is_transient(message)


@pytest.mark.parametrize("message", [
    "unauthorized: authentication required",
    "denied: requested access to the resource is denied",
    "name unknown: repository name not known to registry",
    "An image does not exist locally with the tag: x",
])
def test_refusals_are_final(message):
    assert not is_transient(message)


def test_backoff_doubles_and_is_capped():
    assert backoff_delays(4, 2.0) == [2.0, 4.0, 8.0]
    assert backoff_delays(1, 2.0) == []
    assert max(backoff_delays(10, 5.0)) == 30.0


def test_credentials_need_both_variables_and_name_the_missing_one():
    assert credentials_from({}) is None
    assert credentials_from({"REGISTRY_USERNAME": "ci", "REGISTRY_PASSWORD": "pw"}) == {
        "username": "ci", "password": "pw"}
    with pytest.raises(ConfigError, match="REGISTRY_PASSWORD is not set"):
        credentials_from({"REGISTRY_USERNAME": "ci"})
    with pytest.raises(ConfigError, match="REGISTRY_USERNAME is not set"):
        credentials_from({"REGISTRY_PASSWORD": "pw"})


def test_model_labels_carry_version_hashes_and_every_metric():
    labels = model_labels({
        "model_name": "rf", "model_version": "1.0.0+abc", "artifact": {"sha256": "a" * 64},
        "training_data": {"fingerprint_sha256": "b" * 64}, "metrics": {"accuracy": 0.95, "roc_auc": 0.99},
    })
    assert labels == {
        "io.mlci.model.name": "rf", "io.mlci.model.version": "1.0.0+abc",
        "io.mlci.model.artifact-sha256": "a" * 64, "io.mlci.model.training-data-sha256": "b" * 64,
        "io.mlci.model.metric.accuracy": "0.95", "io.mlci.model.metric.roc_auc": "0.99",
    }


def image(name, created, branch="main", role="model", tagged=True):
    return LocalImage(f"sha256:{name}", (f"repo:{name}",) if tagged else (), created, branch, role)


def test_prune_keeps_the_newest_per_branch_and_role():
    images = [image("m1", "2026-01-01T00:00:01Z"), image("m2", "2026-01-01T00:00:03Z"),
              image("m3", "2026-01-01T00:00:02Z"), image("f1", "2026-01-01T00:00:00Z", branch="feature"),
              image("r1", "2026-01-01T00:00:00Z", role="runner"), image("r2", "2026-01-01T00:00:09Z", role="runner")]
    doomed = {item.image_id for item in images_to_prune(images, keep=2)}
    assert doomed == {"sha256:m1"}
    assert {item.image_id for item in images_to_prune(images, keep=1)} == {"sha256:m1", "sha256:m3", "sha256:r1"}


def test_prune_always_removes_untagged_leftovers():
    images = [image("m1", "2026-01-01T00:00:01Z"), image("old", "2026-01-01T00:00:05Z", tagged=False)]
    assert [item.image_id for item in images_to_prune(images, keep=5)] == ["sha256:old"]


def test_registry_config_listens_on_the_given_address_with_optional_auth():
    plain = json.loads(registry_config("127.0.0.1:5000", "/tmp/storage"))
    assert plain["http"]["addr"] == "127.0.0.1:5000"
    assert "auth" not in plain
    secured = json.loads(registry_config("127.0.0.1:5001", "/tmp/s", "/tmp/htpasswd"))
    assert secured["auth"]["htpasswd"]["path"] == "/tmp/htpasswd"


def test_the_local_registry_refuses_deletes():
    # Nothing of the toolkit deletes from it; a process that reaches it (a target through a tunnel) must not either.
    assert json.loads(registry_config("127.0.0.1:5000", "/tmp/storage"))["storage"]["delete"] == {"enabled": False}
