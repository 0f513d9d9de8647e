"""The built image, run as a real container by the engine itself: what only the engine can show.

User, read-only root, HEALTHCHECK, what the image does not contain, and a clean `docker stop`.
The HTTP contract is tested in the integration tier, inside the Compose stack.
"""

import sqlite3
import time

import pytest
import requests

from model_app.dataset import load_split
from model_app.features import CLASS_NAMES, FEATURE_NAMES
from tests.image.conftest import extract_dir_from, read_file_from


def records_of(matrix):
    return [{name: float(value) for name, value in zip(FEATURE_NAMES, row)} for row in matrix]


def test_runs_as_non_root_with_a_read_only_root_filesystem(start_service, docker_client, image):
    service = start_service()
    assert docker_client.images.get(image).attrs["Config"]["User"] == "10001:10001"
    exit_code, output = service.container.exec_run(["python", "-c", "import os; print(os.getuid())"])
    assert (exit_code, output.strip()) == (0, b"10001")
    exit_code, _ = service.container.exec_run(["python", "-c", "open('/app/x', 'w')"])
    assert exit_code != 0


def test_ready_only_after_the_artifact_is_verified(start_service):
    service = start_service()
    ready = requests.get(service.url + "/ready", timeout=5).json()
    metadata = requests.get(service.url + "/metadata", timeout=5).json()
    assert ready["model_version"] == metadata["model_version"]
    assert f"sha256 {metadata['artifact']['sha256'][:12]} verified" in service.logs()


def _good_record():
    return records_of(load_split().eval_features[:1])[0]


def test_the_image_carries_no_build_tooling_or_build_host_trust(start_service, docker_client, image):
    service = start_service()
    exit_code, _ = service.container.exec_run(["python", "-m", "pip", "--version"])
    assert exit_code != 0, "pip must not be in the runtime image"
    exit_code, _ = service.container.exec_run(["ls", "/opt/build-trust"])
    assert exit_code != 0, "the build host's trust files must stay in the build stages"
    labels = docker_client.images.get(image).labels
    assert labels["io.mlci.image-role"] == "model"
    assert len(labels["org.opencontainers.image.revision"]) >= 40


def test_predictions_match_the_dataset(start_service):
    service = start_service()
    split = load_split()
    response = service.post_json("/predict", {"records": records_of(split.eval_features[:40])})
    predicted = [CLASS_NAMES.index(item["label"]) for item in response.json()["predictions"]]
    assert sum(int(p == t) for p, t in zip(predicted, split.eval_labels[:40])) >= 37


def test_a_tampered_artifact_is_never_served(start_service):
    service = start_service(read_only=False, replace_files={"/app/model/model.onnx": b"not the trained model"},
                            wait_ready=False)
    ready = requests.get(service.url + "/ready", timeout=5)
    assert ready.status_code == 503 and "sha256" in ready.json()["reason"]
    assert "model NOT ready" in service.logs() and "sha256" in service.logs()
    assert service.post_json("/predict", {"records": [_good_record()]}).status_code == 503


def test_a_missing_artifact_is_reported(start_service):
    service = start_service(environment={"MODEL_DIR": "/nonexistent"}, wait_ready=False)
    ready = requests.get(service.url + "/ready", timeout=5)
    assert ready.status_code == 503 and "missing" in ready.json()["reason"]


def test_docker_healthcheck_reports_healthy(start_service):
    service = start_service()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        service.container.reload()
        status = service.container.attrs["State"]["Health"]["Status"]
        if status == "healthy":
            return
        time.sleep(0.5)
    pytest.fail(f"container health stayed {status}")


def test_a_clean_shutdown_loses_no_logged_prediction(start_service, tmp_path):
    service = start_service(read_only=False)
    record = _good_record()
    request_ids = []
    for index in range(60):
        response = service.post_json("/predict", {"records": [record] * 3}, headers={"x-request-id": f"req-{index}"})
        request_ids.append(response.json()["request_id"])
    service.container.stop(timeout=15)
    assert service.container.wait(timeout=30)["StatusCode"] == 0
    extract_dir_from(service.container, "/data", tmp_path)
    rows = sqlite3.connect(tmp_path / "data" / "predictions.sqlite").execute(
        "SELECT request_id, record_count FROM predictions").fetchall()
    assert sorted(rows) == sorted((request_id, 3) for request_id in request_ids)
    assert read_file_from(service.container, "/app/model/metadata.json")
