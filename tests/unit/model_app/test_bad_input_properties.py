"""Bad input never reaches a 5xx (issue 14): property-based tests of parse_json, records_to_matrix and the ASGI app
over arbitrary bytes, duplicate keys, huge integers, deep nesting and odd encodings.

Each property runs `CASES` generated examples (hypothesis, derandomized so that a run is repeatable; a failure
prints the smallest example it found). Every answer must be a 200 or the 4xx validation names, and every 200 must
be a request the prediction log can store and the metrics count.
"""

import json
import math

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model_app.features import FEATURE_NAMES
from model_app.prediction_log import PredictionRecord
from model_app.validation import FLOAT32_MAX, InputError, parse_json, records_to_matrix
from tests.unit.model_app.conftest import AsgiClient, make_service

CASES = 300
MAX_BATCH = 8
CLIENT_ERRORS = {400, 413, 415, 422}
PROPERTY_SETTINGS = settings(max_examples=CASES, derandomize=True, deadline=None, database=None,
                             suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# Values a client can put in a feature: every JSON scalar, with numbers at float32's and 64-bit integers' edges.
EDGE_NUMBERS = st.sampled_from([0, -0.0, 1, -1, 2**63 - 1, -(2**63), 2**64 - 1, 2**64, -(2**63) - 1, 10**38,
                                10**39, 10**400, FLOAT32_MAX, -FLOAT32_MAX, FLOAT32_MAX * 1.0000001, 5e-324, 1e308])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=8), EDGE_NUMBERS)
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=12)
# Values a valid record may hold: any float32, and integers of any length within float32's range.
VALID_VALUES = st.one_of(st.floats(width=32, allow_nan=False, allow_infinity=False),
                         st.integers(min_value=-(10**38), max_value=10**38),
                         st.sampled_from([2**63 - 1, -(2**63), 2**64 - 1, 2**64, -(2**63) - 1, 10**38, -(10**38),
                                          FLOAT32_MAX, -FLOAT32_MAX, 5e-324]))


def json_text(value) -> str:
    """JSON as a client could write it: NaN and Infinity written raw, integers of any size."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, list):
        return "[" + ", ".join(map(json_text, value)) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(key)}: {json_text(item)}" for key, item in value.items()) + "}"
    return json.dumps(value)


@st.composite
def record_texts(draw) -> str:
    """A record as JSON text: every feature with a valid value, then perhaps one fault (a feature missing, one
    unknown, one value of any JSON type), and perhaps earlier duplicates of some keys holding anything at all
    (NaN, a string...), which the last occurrence overrides as in orjson and json.loads."""
    fields = [(name, json_text(draw(VALID_VALUES))) for name in FEATURE_NAMES]
    fault = draw(st.sampled_from(["none", "none", "missing", "unknown", "value"]))
    index = draw(st.integers(min_value=0, max_value=len(fields) - 1))
    if fault == "missing":
        del fields[index]
    elif fault == "unknown":
        fields.append((draw(st.text(max_size=8)), json_text(draw(SCALARS))))
    elif fault == "value":
        fields[index] = (fields[index][0], json_text(draw(SCALARS)))
    duplicates = draw(st.lists(st.tuples(st.sampled_from(FEATURE_NAMES), SCALARS.map(json_text)), max_size=3))
    return "{" + ", ".join(f"{json.dumps(name)}: {text}" for name, text in [*duplicates, *fields]) + "}"


@st.composite
def request_bodies(draw) -> bytes:
    records = draw(st.lists(record_texts(), min_size=0, max_size=3))
    text = '{"records": [' + ", ".join(records) + "]}"
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-16", "utf-32", "utf-8-sig"]))
    return text.encode(encoding)


NESTED = st.integers(min_value=1, max_value=200_000).map(lambda depth: b"[" * depth + b"]" * depth)
BODIES = st.one_of(st.binary(max_size=512), request_bodies(), NESTED,
                   JSON_VALUES.map(lambda value: json_text({"records": value}).encode()))


def validate(body: bytes):
    return records_to_matrix(parse_json(body), MAX_BATCH)


@PROPERTY_SETTINGS
@given(BODIES)
def test_parse_and_validate_either_give_a_float32_matrix_or_name_a_client_error(body):
    try:
        matrix = validate(body)
    except InputError as error:
        assert error.status in CLIENT_ERRORS
        assert error.message
        return
    assert matrix.dtype == np.float32 and matrix.shape[1] == len(FEATURE_NAMES)
    assert np.all(np.isfinite(matrix))


@PROPERTY_SETTINGS
@given(request_bodies())
def test_every_accepted_request_can_be_written_to_the_prediction_log(body):
    try:
        payload = parse_json(body)
        records_to_matrix(payload, MAX_BATCH)
    except InputError:
        return
    row = PredictionRecord("id", 0.0, "1", payload["records"], [], 0.1).as_row()
    assert json.loads(row[4]) == json.loads(orjson.dumps(payload["records"]))


@pytest.fixture(scope="module")
def running(trained_models, tmp_path_factory):
    """One started service for every example of a property (starting one per example would dominate the run)."""
    service = make_service(trained_models.first, tmp_path_factory.mktemp("properties"))
    service.startup()
    yield service, AsgiClient(service)
    service.shutdown()


def answered(service) -> float:
    """POST /predict requests the metrics counted, whatever their status."""
    return sum(sample.value for metric in service.telemetry.requests.collect() for sample in metric.samples
               if sample.name == "http_requests_total" and sample.labels["path"] == "/predict")


@PROPERTY_SETTINGS
@given(body=BODIES, content_type=st.sampled_from(["application/json", "application/json; charset=utf-16",
                                                  "text/plain", ""]))
def test_the_service_answers_every_body_with_a_200_or_a_4xx_and_counts_it(running, body, content_type):
    service, client = running
    before = answered(service)
    response = client.request("POST", "/predict", body, headers=[
        ("content-type", content_type), ("content-length", str(len(body)))])
    assert response.status == 200 or response.status in CLIENT_ERRORS, response.body[:300]
    answer = response.json()
    if response.status != 200:
        assert answer["error"]["status"] == response.status
        assert isinstance(answer["error"]["message"], str)
    else:
        assert len(answer["predictions"]) == len(parse_json(body)["records"])
    assert answered(service) == before + 1
