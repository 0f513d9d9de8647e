"""The service's HTTP contract, checked against its own published OpenAPI document."""

import json

import pytest
import requests
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def openapi(model_url) -> dict:
    response = requests.get(f"{model_url}/openapi.json", timeout=10)
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"] == "3.1.0"
    return document


def response_validator(openapi: dict, path: str, method: str, status: int) -> Draft202012Validator:
    """A JSON Schema validator for one documented response (OpenAPI 3.1 schemas are JSON Schema 2020-12)."""
    responses = openapi["paths"][path][method]["responses"]
    assert str(status) in responses, f"{method.upper()} {path} does not document status {status}"
    schema = responses[str(status)]["content"]["application/json"]["schema"]
    registry = Registry().with_resource(
        "urn:openapi", Resource.from_contents(openapi, default_specification=DRAFT202012))
    return Draft202012Validator({"$ref": "urn:openapi#" + schema["$ref"][1:]} if "$ref" in schema else schema,
                                registry=registry)


def assert_documented(openapi, path, method, response) -> dict:
    body = response.json()
    errors = sorted(response_validator(openapi, path, method, response.status_code).iter_errors(body), key=str)
    assert not errors, f"{method.upper()} {path} {response.status_code} breaks the OpenAPI document: {errors[0]}"
    return body


def test_every_documented_path_answers(model_url, openapi):
    for path, operations in openapi["paths"].items():
        if "get" in operations:
            assert requests.get(model_url + path, timeout=10).status_code == 200, path


def test_a_prediction_matches_the_response_schema_and_the_request(model_url, openapi, eval_records):
    response = requests.post(f"{model_url}/predict", json={"records": eval_records[:5]}, timeout=10,
                             headers={"x-request-id": "contract-check-1"})
    body = assert_documented(openapi, "/predict", "post", response)
    assert response.status_code == 200
    assert body["request_id"] == "contract-check-1" == response.headers["x-request-id"]
    assert len(body["predictions"]) == 5


def test_predictions_are_correct_on_the_held_out_split(model_url, eval_records, eval_labels):
    predicted = []
    for start in range(0, len(eval_records), 50):
        response = requests.post(f"{model_url}/predict", json={"records": eval_records[start:start + 50]}, timeout=10)
        predicted += [item["label"] for item in response.json()["predictions"]]
    metadata = requests.get(f"{model_url}/metadata", timeout=10).json()
    classes = metadata["classes"]
    accuracy = sum(classes.index(label) == truth for label, truth in zip(predicted, eval_labels)) / len(eval_labels)
    # The service must reproduce training's own held-out accuracy exactly: same artifact, same rows.
    assert accuracy == pytest.approx(metadata["metrics"]["accuracy"], abs=1e-6)


def _record(eval_records):
    return dict(eval_records[0])


def _without(record, name):
    return {key: value for key, value in record.items() if key != name}


BAD_REQUESTS = [
    # (case, body builder -> raw bytes, content type, status, field)
    ("missing feature", lambda r: {"records": [_without(r, "mean_area")]}, 422, "records[0].mean_area"),
    ("unknown feature", lambda r: {"records": [{**r, "colour": 1.0}]}, 422, "records[0].colour"),
    ("string value", lambda r: {"records": [{**r, "mean_radius": "17.9"}]}, 422, "records[0].mean_radius"),
    ("boolean value", lambda r: {"records": [{**r, "mean_radius": True}]}, 422, "records[0].mean_radius"),
    ("null value", lambda r: {"records": [{**r, "mean_radius": None}]}, 422, "records[0].mean_radius"),
    ("beyond float32", lambda r: {"records": [{**r, "area_error": 1e39}]}, 422, "records[0].area_error"),
    ("empty batch", lambda r: {"records": []}, 422, "records"),
    ("records not a list", lambda r: {"records": r}, 422, "records"),
    ("record not an object", lambda r: {"records": [[1, 2, 3]]}, 422, "records[0]"),
    ("missing records", lambda r: {"rows": [r]}, 422, "rows"),
    ("batch over the limit", lambda r: {"records": [r] * 257}, 413, "records"),
]


@pytest.mark.parametrize("case, build, status, field", BAD_REQUESTS, ids=[item[0] for item in BAD_REQUESTS])
def test_bad_input_gets_a_documented_4xx_naming_the_field(
        model_url, openapi, eval_records, case, build, status, field):
    response = requests.post(f"{model_url}/predict", json=build(_record(eval_records)), timeout=10)
    assert response.status_code == status
    body = assert_documented(openapi, "/predict", "post", response)
    assert body["error"]["field"] == field
    assert field.split(".")[-1].split("[")[0] in body["error"]["message"]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_get_422_naming_the_field(model_url, openapi, eval_records, literal):
    record = _record(eval_records)
    text = json.dumps({"records": [record]}).replace(
        f'"worst_area": {json.dumps(record["worst_area"])}', f'"worst_area": {literal}')
    response = requests.post(f"{model_url}/predict", data=text, headers=JSON, timeout=10)
    assert response.status_code == 422
    assert assert_documented(openapi, "/predict", "post", response)["error"]["field"] == "records[0].worst_area"


@pytest.mark.parametrize("body, headers, status", [
    (b"{not json", JSON, 400),
    (b'{"records": [}', JSON, 400),
    (b"records=1", {"content-type": "application/x-www-form-urlencoded"}, 415),
    (b'{"records": []}', {}, 415),
    (b"{" + b" " * 1_100_000 + b"}", JSON, 413),
])
def test_malformed_requests_get_documented_errors(model_url, openapi, body, headers, status):
    response = requests.post(f"{model_url}/predict", data=body, headers=headers, timeout=10)
    assert response.status_code == status
    assert assert_documented(openapi, "/predict", "post", response)["error"]["message"]


def test_unknown_path_and_wrong_method(model_url):
    assert requests.get(f"{model_url}/nope", timeout=10).status_code == 404
    assert requests.get(f"{model_url}/predict", timeout=10).status_code == 405


def test_no_bad_input_crashed_the_service(model_url):
    assert requests.get(f"{model_url}/health", timeout=10).status_code == 200
    assert requests.get(f"{model_url}/ready", timeout=10).status_code == 200
