"""The built image, run as a real container: identity, readiness, predictions, bad input, shutdown."""

import json
import sqlite3
import time

import pytest
import requests

from model_app.dataset import load_split
from model_app.features import CLASS_NAMES, FEATURE_NAMES
from tests.integration.conftest import extract_dir_from, read_file_from


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


def test_predictions_on_the_held_out_split_match_the_recorded_metrics(start_service):
    service = start_service()
    split = load_split()
    metadata = requests.get(service.url + "/metadata", timeout=5).json()
    response = service.post_json("/predict", {"records": records_of(split.eval_features[:100])})
    assert response.status_code == 200
    body = response.json()
    predicted = [CLASS_NAMES.index(item["label"]) for item in body["predictions"]]
    assert len(predicted) == 100
    accuracy = sum(int(p == t) for p, t in zip(predicted, split.eval_labels[:100])) / 100
    assert accuracy >= metadata["metrics"]["accuracy"] - 0.05
    for item in body["predictions"]:
        assert sum(item["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    assert body["model_version"] == metadata["model_version"]


def _good_record():
    return records_of(load_split().eval_features[:1])[0]


BAD_REQUESTS = [
    ("missing feature", lambda r: {"records": [{k: v for k, v in r.items() if k != "mean_area"}]}, 422,
     "records[0].mean_area"),
    ("unknown feature", lambda r: {"records": [{**r, "colour": 1}]}, 422, "records[0].colour"),
    ("wrong type", lambda r: {"records": [{**r, "mean_radius": "big"}]}, 422, "records[0].mean_radius"),
    ("empty batch", lambda r: {"records": []}, 422, "records"),
    ("batch over the limit", lambda r: {"records": [r] * 257}, 413, "records"),
]


@pytest.mark.parametrize("case, make_body, status, field", BAD_REQUESTS, ids=[case[0] for case in BAD_REQUESTS])
def test_bad_input_gets_a_4xx_that_names_the_field(start_service, case, make_body, status, field):
    service = start_service()
    response = service.post_json("/predict", make_body(_good_record()))
    assert response.status_code == status
    assert response.json()["error"]["field"] == field
    assert field.split(".")[-1] in response.json()["error"]["message"]


@pytest.mark.parametrize("raw_value", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_refused(start_service, raw_value):
    service = start_service()
    record = _good_record()
    text = json.dumps({"records": [record]})
    value_text = json.dumps(record["mean_texture"])
    text = text.replace(f'"mean_texture": {value_text}', f'"mean_texture": {raw_value}')
    response = requests.post(service.url + "/predict", data=text, timeout=5,
                             headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "records[0].mean_texture"


def test_wrong_content_type_and_oversized_body(start_service):
    service = start_service()
    response = requests.post(service.url + "/predict", data="a=1", timeout=5,
                             headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 415 and "content-type" in response.json()["error"]["message"]
    response = requests.post(service.url + "/predict", data=b"{" + b" " * 2_000_000 + b"}", timeout=5,
                             headers={"content-type": "application/json"})
    assert response.status_code == 413
    response = requests.post(service.url + "/predict", data=b"{not json", timeout=5,
                             headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert requests.get(service.url + "/health", timeout=5).status_code == 200


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
