"""The ASGI app (model_app/app.py, ModelService) driven in-process: routes, limits, predictions, metrics."""

import asyncio
import hashlib
import json
import re
import sqlite3

import pytest
from prometheus_client.parser import text_string_to_metric_families

from model_app import app as app_module
from model_app.app import ModelService
from model_app.features import CLASS_NAMES, FEATURE_NAMES
from model_app.settings import Settings
from model_app.validation import FLOAT32_MAX

# Rows of load_breast_cancer at the extremes of "worst concave points": far from the decision boundary.
CLEARLY_MALIGNANT_ROWS = (202, 352, 82, 181)
CLEARLY_BENIGN_ROWS = (568, 561, 557, 473)
MAX_BODY_BYTES = 4096  # as configured by the `service` fixture
MAX_BATCH = 8


def metric_samples(client) -> dict:
    """Scrape /metrics and return {(sample name, frozenset of labels): value}."""
    response = client.get("/metrics")
    assert response.status == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.body.decode())
        for sample in family.samples
    }


def predictions_total(client) -> dict:
    samples = metric_samples(client)
    return {name: samples[("model_predictions_total", frozenset({("class_name", name)}))] for name in CLASS_NAMES}


def requests_total_key(method: str, path: str, status: str) -> tuple:
    return ("http_requests_total", frozenset({("method", method), ("path", path), ("status", status)}))


# Health, readiness, metadata -------------------------------------------------------------------

def test_health_is_200(client):
    response = client.get("/health")
    assert response.status == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["content-type"] == "application/json"


def test_ready_is_200_with_model_version_after_startup(client, trained_models):
    response = client.get("/ready")
    assert response.status == 200
    assert response.json() == {"status": "ready", "model_version": trained_models.metadata["model_version"],
                               "release": ""}


def test_metadata_returns_the_training_metadata(client, model_dir):
    response = client.get("/metadata")
    assert response.status == 200
    assert response.json() == json.loads((model_dir / "metadata.json").read_text())


def test_ready_is_503_naming_sha256_when_the_artifact_was_tampered(tampered_client):
    response = tampered_client.get("/ready")
    assert response.status == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert "sha256" in body["reason"]


def test_predict_is_503_not_500_when_the_artifact_was_tampered(tampered_client, dataset):
    response = tampered_client.post_json({"records": [dataset.records[0]]})
    assert response.status == 503
    error = response.json()["error"]
    assert error["status"] == 503
    assert "sha256" in error["message"]


def test_tampered_service_is_still_alive_and_reports_not_ready_in_metrics(tampered_client):
    assert tampered_client.get("/health").status == 200
    assert tampered_client.get("/metadata").status == 503
    assert metric_samples(tampered_client)[("model_ready", frozenset())] == 0


def test_model_ready_gauge_is_1_when_loaded(client):
    assert metric_samples(client)[("model_ready", frozenset())] == 1


def test_ready_is_503_when_the_model_directory_does_not_exist(tmp_path, make_client):
    service = ModelService(Settings(model_dir=tmp_path / "missing", prediction_log_path=tmp_path / "p.sqlite"))
    service.load_model()
    response = make_client(service).get("/ready")
    assert response.status == 503
    assert "is missing" in response.json()["reason"]


def test_ready_is_503_when_the_model_file_is_not_an_onnx_model(model_dir, tmp_path, make_client):
    # Right sha256, wrong content: the integrity check passes, onnxruntime refuses, the service stays up.
    garbage = b"not an onnx model"
    (model_dir / "model.onnx").write_bytes(garbage)
    metadata = json.loads((model_dir / "metadata.json").read_text())
    metadata["artifact"]["sha256"] = hashlib.sha256(garbage).hexdigest()
    (model_dir / "metadata.json").write_text(json.dumps(metadata))
    service = ModelService(Settings(model_dir=model_dir, prediction_log_path=tmp_path / "p.sqlite"))
    service.load_model()
    response = make_client(service).get("/ready")
    assert response.status == 503
    assert "could not be loaded" in response.json()["reason"]


# Predictions -----------------------------------------------------------------------------------

def test_predict_labels_real_rows_correctly_in_order(client, dataset, trained_models):
    rows = [CLEARLY_MALIGNANT_ROWS[0], CLEARLY_BENIGN_ROWS[0], CLEARLY_BENIGN_ROWS[1], CLEARLY_MALIGNANT_ROWS[1]]
    response = client.post_json({"records": [dataset.records[row] for row in rows]})

    assert response.status == 200
    body = response.json()
    assert body["model_version"] == trained_models.metadata["model_version"]
    assert [prediction["label"] for prediction in body["predictions"]] == \
        [CLASS_NAMES[dataset.labels[row]] for row in rows] == ["malignant", "benign", "benign", "malignant"]
    for prediction in body["predictions"]:
        probabilities = prediction["probabilities"]
        assert set(probabilities) == set(CLASS_NAMES)
        assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        assert probabilities[prediction["label"]] > 0.8


@pytest.mark.parametrize("rows", [CLEARLY_MALIGNANT_ROWS, CLEARLY_BENIGN_ROWS], ids=["malignant", "benign"])
def test_predict_agrees_with_the_dataset_target_for_clear_cases(client, dataset, rows):
    response = client.post_json({"records": [dataset.records[row] for row in rows]})
    assert response.status == 200
    labels = [prediction["label"] for prediction in response.json()["predictions"]]
    assert labels == [CLASS_NAMES[dataset.labels[row]] for row in rows]


def test_predict_returns_one_prediction_per_record_and_a_generated_request_id(client, dataset):
    response = client.post_json({"records": dataset.records[10:13]})
    body = response.json()
    assert len(body["predictions"]) == 3
    assert re.fullmatch(r"[0-9a-f]{32}", body["request_id"])
    assert response.headers["x-request-id"] == body["request_id"]
    assert client.post_json({"records": dataset.records[10:11]}).json()["request_id"] != body["request_id"]


def test_valid_incoming_request_id_is_echoed(client, dataset):
    response = client.post_json({"records": [dataset.records[0]]}, headers=[("x-request-id", "order-42.retry_1")])
    assert response.status == 200
    assert response.json()["request_id"] == "order-42.retry_1"
    assert response.headers["x-request-id"] == "order-42.retry_1"


@pytest.mark.parametrize("supplied", ["has spaces", "x" * 65, "semi;colon", "", "abc\n"])
def test_invalid_incoming_request_id_is_replaced(client, dataset, supplied):
    response = client.post_json({"records": [dataset.records[0]]}, headers=[("x-request-id", supplied)])
    assert response.status == 200
    request_id = response.json()["request_id"]
    assert request_id != supplied
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert response.headers["x-request-id"] == request_id


def test_body_sent_in_several_chunks_is_reassembled(client, dataset):
    body = json.dumps({"records": dataset.records[:2]}).encode()
    chunks = [body[:100], body[100:101], b"", body[101:]]
    response = client.request("POST", "/predict", headers=[("content-type", "application/json")], chunks=chunks)
    assert response.status == 200
    assert len(response.json()["predictions"]) == 2


def test_content_type_with_charset_is_accepted(client, dataset):
    body = json.dumps({"records": [dataset.records[0]]}).encode()
    response = client.request("POST", "/predict", body, headers=[("content-type", "Application/JSON; charset=utf-8")])
    assert response.status == 200


def test_prediction_is_written_to_the_prediction_log_on_shutdown(service, client, dataset):
    response = client.post_json({"records": dataset.records[:2]}, headers=[("x-request-id", "logged-1")])
    assert response.status == 200
    service.shutdown()
    with sqlite3.connect(service.settings.prediction_log_path) as connection:
        rows = connection.execute("SELECT request_id, model_version, record_count, inputs, outputs"
                                  " FROM predictions").fetchall()
    assert len(rows) == 1
    request_id, model_version, record_count, inputs, outputs = rows[0]
    assert (request_id, model_version, record_count) == ("logged-1", service.model_version, 2)
    assert json.loads(inputs) == dataset.records[:2]
    assert json.loads(outputs) == response.json()["predictions"]


def test_validation_errors_reach_the_client_with_their_field(client, dataset):
    record = dict(dataset.records[0])
    del record["mean_smoothness"]
    response = client.post_json({"records": [dataset.records[0], record]})
    assert response.status == 422
    assert response.json()["error"]["field"] == "records[1].mean_smoothness"
    assert "mean_smoothness" in response.json()["error"]["message"]
    assert "x-request-id" in response.headers


def test_nan_sent_as_raw_json_text_is_422_naming_the_field(client, dataset):
    body = json.dumps({"records": [dataset.records[0]]}).replace(
        f'"mean_radius": {dataset.records[0]["mean_radius"]}', '"mean_radius": NaN').encode()
    assert b"NaN" in body
    response = client.post_json(body)
    assert response.status == 422
    assert response.json()["error"]["field"] == "records[0].mean_radius"


def test_integer_beyond_float64_is_422_not_500(client, dataset):
    body = json.dumps({"records": [dataset.records[0]]}).replace(
        f'"mean_radius": {dataset.records[0]["mean_radius"]}', '"mean_radius": 1' + "0" * 400).encode()
    response = client.post_json(body)
    assert response.status == 422
    assert response.json()["error"]["field"] == "records[0].mean_radius"


def test_invalid_json_is_400(client):
    response = client.post_json(b'{"records": [')
    assert response.status == 400
    assert response.json()["error"]["field"] is None


def test_batch_over_max_batch_is_413(client):
    response = client.post_json({"records": [{}] * (MAX_BATCH + 1)})
    assert response.status == 413
    assert response.json()["error"]["field"] == "records"


# Request limits, routing -----------------------------------------------------------------------

@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/jsonx"])
def test_wrong_content_type_is_415(client, dataset, content_type):
    body = json.dumps({"records": [dataset.records[0]]}).encode()
    response = client.request("POST", "/predict", body, headers=[("content-type", content_type)])
    assert response.status == 415
    error = response.json()["error"]
    assert error["field"] == "content-type"
    assert content_type in error["message"]


def test_missing_content_type_is_415(client, dataset):
    body = json.dumps({"records": [dataset.records[0]]}).encode()
    response = client.request("POST", "/predict", body, headers=[("content-length", str(len(body)))])
    assert response.status == 415
    assert "got none" in response.json()["error"]["message"]


def drive(app, scope_headers, receive) -> list:
    sent = []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/predict", "headers": scope_headers}
    asyncio.run(app(scope, receive, send))
    return sent


def test_a_declared_body_over_the_limit_is_read_to_its_end_and_discarded_before_its_413(client):
    # Issue 14, defect 3: answering before the body is read made the server close with the body still arriving,
    # and a client that sends it all before reading (Python requests, most SDKs) saw a reset through the proxy
    # instead of its 413 (HAProxy before 3.0 does not drain it). The service reads it to its end, keeping none.
    chunks = [{"type": "http.request", "body": b" " * 1000, "more_body": True} for _ in range(9)]
    chunks.append({"type": "http.request", "body": b" " * 97, "more_body": False})
    received = []

    async def receive():
        received.append(True)
        return chunks.pop(0)

    sent = drive(client.app, [(b"content-type", b"application/json"), (b"content-length", b"9097")], receive)
    assert sent[0]["status"] == 413
    assert "9097 bytes is over the limit of 4096" in json.loads(sent[1]["body"])["error"]["message"]
    assert len(received) == 10 and chunks == []
    assert (b"connection", b"close") not in sent[0]["headers"]  # all of it read: the connection can serve on


def test_a_body_still_arriving_after_the_drain_time_gets_its_413_and_a_closed_connection(client, monkeypatch):
    monkeypatch.setattr(app_module, "DRAIN_SECONDS", 0.05)

    async def receive():  # a client that never stops sending
        await asyncio.sleep(0.001)
        return {"type": "http.request", "body": b" " * 1000, "more_body": True}

    sent = drive(client.app, [(b"content-type", b"application/json"), (b"content-length", b"999999999")], receive)
    assert sent[0]["status"] == 413
    assert (b"connection", b"close") in sent[0]["headers"]


def test_declared_content_length_at_the_limit_is_read(client):
    body = b'{"records": []}'.ljust(MAX_BODY_BYTES)
    response = client.post_json(body)
    assert len(body) == MAX_BODY_BYTES
    assert response.status == 422  # got past the size check to validation


def test_chunked_body_exceeding_the_limit_is_413(client):
    chunks = [b"{" + b" " * 999] + [b" " * 1000] * 4  # 5000 bytes, no content-length
    response = client.request("POST", "/predict", headers=[("content-type", "application/json")], chunks=chunks)
    assert response.status == 413
    assert f"over the limit of {MAX_BODY_BYTES} bytes" in response.json()["error"]["message"]


def test_body_larger_than_declared_content_length_is_still_limited(client):
    body = b"{" + b" " * (MAX_BODY_BYTES + 10) + b"}"
    response = client.request("POST", "/predict", body,
                              headers=[("content-type", "application/json"), ("content-length", "10")])
    assert response.status == 413


def test_client_disconnect_mid_body_is_400(client):
    async def receive():
        return {"type": "http.disconnect"}

    sent = []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/predict", "headers": [(b"content-type", b"application/json")]}
    asyncio.run(client.app(scope, receive, send))
    assert sent[0]["status"] == 400


@pytest.mark.parametrize("path", ["/nope", "/predict/", "/PREDICT", "/health/x"])
def test_unknown_path_is_404(client, path):
    response = client.get(path)
    assert response.status == 404
    assert path in response.json()["error"]["message"]


@pytest.mark.parametrize("method, path", [("GET", "/predict"), ("PUT", "/predict"), ("POST", "/health"),
                                          ("DELETE", "/metadata")])
def test_wrong_method_is_405(client, method, path):
    response = client.request(method, path)
    assert response.status == 405
    assert f"method {method} is not allowed on {path}" == response.json()["error"]["message"]


def test_index_lists_the_endpoints(client):
    body = client.get("/").json()
    assert body["service"] == "breast-cancer-rf"
    assert set(body["endpoints"]) == {"/", "/health", "/ready", "/metadata", "/metrics", "/openapi.json", "/predict"}


# OpenAPI and metrics ---------------------------------------------------------------------------

def test_openapi_document_describes_predict_and_every_feature(client):
    response = client.get("/openapi.json")
    assert response.status == 200
    document = response.json()
    assert isinstance(document, dict)
    assert document["openapi"] == "3.1.0"
    assert "post" in document["paths"]["/predict"]
    record = document["components"]["schemas"]["Record"]
    assert sorted(record["properties"]) == sorted(FEATURE_NAMES)
    assert record["required"] == list(FEATURE_NAMES)
    assert record["additionalProperties"] is False
    assert document["components"]["schemas"]["PredictRequest"]["properties"]["records"]["maxItems"] == MAX_BATCH
    assert document["info"]["title"] == "breast-cancer-rf model service"


def test_openapi_declares_the_float32_range_the_service_enforces(client):
    # The service refuses a value beyond float32 (422); the document says so, so generated clients and fuzzers know.
    record = client.get("/openapi.json").json()["components"]["schemas"]["Record"]
    for name in FEATURE_NAMES:
        assert record["properties"][name] == {"type": "number", "minimum": -FLOAT32_MAX, "maximum": FLOAT32_MAX}
    too_big = {name: 0.0 for name in FEATURE_NAMES} | {"mean_radius": FLOAT32_MAX * 1.0000001}
    assert client.post_json({"records": [too_big]}).status == 422
    at_the_bound = {name: 0.0 for name in FEATURE_NAMES} | {"mean_radius": -FLOAT32_MAX}
    assert client.post_json({"records": [at_the_bound]}).status == 200


def test_metrics_count_requests_by_method_path_and_status(client):
    client.get("/health")
    client.get("/health")
    client.get("/no-such-page")
    client.request("GET", "/predict")
    text = client.get("/metrics").body.decode()
    assert re.search(r'^http_requests_total\{[^}]*status="200"[^}]*\} ', text, re.MULTILINE)

    samples = metric_samples(client)
    assert samples[requests_total_key("GET", "/health", "200")] == 2
    assert samples[requests_total_key("GET", "other", "404")] == 1  # unknown paths share one label value
    assert samples[requests_total_key("GET", "/predict", "405")] == 1
    assert samples[requests_total_key("GET", "/metrics", "200")] == 1  # the first scrape, seen by the second


def test_model_predictions_total_increases_after_a_prediction(client, dataset):
    before = predictions_total(client)
    rows = [CLEARLY_MALIGNANT_ROWS[2], CLEARLY_BENIGN_ROWS[2], CLEARLY_BENIGN_ROWS[3]]
    assert client.post_json({"records": [dataset.records[row] for row in rows]}).status == 200
    after = predictions_total(client)
    assert after["malignant"] - before["malignant"] == 1
    assert after["benign"] - before["benign"] == 2


def test_refused_predictions_are_not_counted(client):
    before = predictions_total(client)
    assert client.post_json({"records": [{}]}).status == 422
    assert predictions_total(client) == before


def test_lifespan_protocol_starts_and_stops_the_service(model_dir, tmp_path):
    service = ModelService(Settings(model_dir=model_dir, prediction_log_path=tmp_path / "p.sqlite"))
    inbox = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent = []

    async def receive():
        return inbox.pop(0)

    async def send(message):
        sent.append(message["type"])
        if message["type"] == "lifespan.startup.complete":
            sent.append(service.model_version == service.metadata["model_version"] != "")

    asyncio.run(service({"type": "lifespan"}, receive, send))
    assert sent == ["lifespan.startup.complete", True, "lifespan.shutdown.complete"]
    assert (tmp_path / "p.sqlite").exists()


# Hostile input never reaches a 500 (issue 14, defect 2), and what does fail is still a JSON answer, counted -------

def test_duplicate_keys_nan_and_a_39_digit_integer_get_an_answer_that_is_logged_and_counted(service, client,
                                                                                            dataset):
    # orjson refuses the NaN, the fallback parser keeps the last of the duplicate keys: a 39-digit integer
    # within float32's range. It used to reach the prediction log's orjson.dumps and raise (a 500, unlogged).
    rest = {name: value for name, value in dataset.records[0].items() if name != "mean_radius"}
    body = ('{"records":[{"mean_radius": NaN, "mean_radius": 100000000000000000000000000000000000000, '
            + json.dumps(rest)[1:] + ']}').encode()
    response = client.post_json(body, headers=[("x-request-id", "huge-int-1")])
    assert response.status == 200, response.body
    assert metric_samples(client)[requests_total_key("POST", "/predict", "200")] == 1
    service.shutdown()
    with sqlite3.connect(service.settings.prediction_log_path) as connection:
        (inputs,) = connection.execute("SELECT inputs FROM predictions WHERE request_id = 'huge-int-1'").fetchone()
    assert json.loads(inputs)[0]["mean_radius"] == 1e38


def test_a_utf16_body_is_a_400_not_a_guess(client, dataset):
    body = json.dumps({"records": [dataset.records[0]]}).encode("utf-16")
    response = client.post_json(body)
    assert response.status == 400
    assert "UTF-8" in response.json()["error"]["message"]


def test_an_unexpected_failure_is_a_json_500_that_metrics_count(service, client, dataset, monkeypatch):
    def broken(matrix):
        raise RuntimeError("onnxruntime fell over")

    monkeypatch.setattr(service.predictor, "predict", broken)
    response = client.post_json({"records": [dataset.records[0]]})
    assert response.status == 500
    assert response.json()["error"] == {"status": 500, "field": None, "message": "internal error"}
    assert "onnxruntime" not in response.body.decode()  # no internals leak to the client
    assert metric_samples(client)[requests_total_key("POST", "/predict", "500")] == 1


@pytest.mark.parametrize("method, path, allowed", [("GET", "/predict", "POST"), ("POST", "/health", "GET"),
                                                   ("DELETE", "/openapi.json", "GET")])
def test_405_names_the_allowed_method_in_allow(client, method, path, allowed):
    # RFC 9110 §15.5.6: a 405 response MUST carry an Allow header listing the target's methods.
    response = client.request(method, path)
    assert response.status == 405
    assert response.headers["allow"] == allowed
