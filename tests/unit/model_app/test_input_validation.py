"""Input validation (model_app/validation.py): each bad input gets its status and names the offending field."""

import json

import numpy as np
import pytest

from model_app.features import FEATURE_NAMES
from model_app.validation import InputError, parse_json, records_to_matrix

MAX_BATCH = 8


def good_record(offset: float = 0.0) -> dict:
    return {name: index + offset for index, name in enumerate(FEATURE_NAMES)}


def validate(body: bytes, max_batch: int = MAX_BATCH) -> np.ndarray:
    return records_to_matrix(parse_json(body), max_batch)


def body_with(records) -> bytes:
    return json.dumps({"records": records}).encode()


def body_with_raw_value(feature: str, raw_json_value: str, row_count: int = 1) -> bytes:
    """A body whose last record holds `feature` as raw JSON text, e.g. NaN (json.dumps would not write it)."""
    text = json.dumps({"records": [good_record() for _ in range(row_count)]})
    placeholder = f'"{feature}": {FEATURE_NAMES.index(feature)}.0'
    position = text.rindex(placeholder)
    return (text[:position] + f'"{feature}": {raw_json_value}' + text[position + len(placeholder):]).encode()


def record_with(feature: str, value) -> dict:
    record = good_record()
    record[feature] = value
    return record


def record_without(feature: str) -> dict:
    record = good_record()
    del record[feature]
    return record


def expect_error(body: bytes, status: int, field, max_batch: int = MAX_BATCH) -> InputError:
    with pytest.raises(InputError) as raised:
        validate(body, max_batch)
    error = raised.value
    assert (error.status, error.field) == (status, field)
    assert error.as_body() == {"error": {"status": status, "field": field, "message": error.message}}
    return error


# Good input ------------------------------------------------------------------------------------

def test_good_batch_gives_float32_matrix_of_the_right_shape():
    matrix = validate(body_with([good_record(0), good_record(100), good_record(200)]))
    assert matrix.shape == (3, len(FEATURE_NAMES)) == (3, 30)
    assert matrix.dtype == np.float32
    np.testing.assert_array_equal(matrix[1], np.arange(30, dtype=np.float32) + 100)


def test_columns_follow_feature_names_whatever_the_key_order():
    record = good_record()
    reversed_record = dict(reversed(list(record.items())))
    assert list(reversed_record) != list(FEATURE_NAMES)
    matrix = validate(body_with([reversed_record, record]))
    np.testing.assert_array_equal(matrix[0], np.arange(30, dtype=np.float32))
    np.testing.assert_array_equal(matrix[0], matrix[1])


def test_integers_and_negative_numbers_are_accepted():
    record = record_with("mean_radius", -3)
    record["worst_area"] = 3.0e38  # still a finite float32
    matrix = validate(body_with([record]))
    assert matrix[0, FEATURE_NAMES.index("mean_radius")] == -3.0
    assert np.isfinite(matrix[0, FEATURE_NAMES.index("worst_area")])


def test_batch_of_exactly_max_batch_is_accepted():
    assert validate(body_with([good_record()] * MAX_BATCH)).shape == (MAX_BATCH, 30)


# Records and features --------------------------------------------------------------------------

def test_missing_feature_is_named_with_its_record_index():
    error = expect_error(body_with([good_record(), record_without("mean_texture")]), 422, "records[1].mean_texture")
    assert "missing feature 'mean_texture'" in error.message
    assert "records[1]" in error.message


def test_several_missing_features_name_the_first_and_count_the_rest():
    record = record_without("mean_radius")
    del record["worst_area"]
    error = expect_error(body_with([record]), 422, "records[0].mean_radius")
    assert "(and 1 more)" in error.message


def test_unknown_feature_is_named():
    record = good_record()
    record["colour"] = 1.0
    error = expect_error(body_with([record]), 422, "records[0].colour")
    assert "unknown feature 'colour'" in error.message


def test_misspelled_feature_is_reported_as_unknown_not_missing():
    record = record_without("mean_radius")
    record["mean radius"] = 1.0  # the dataset's spelling, not the API's
    error = expect_error(body_with([record]), 422, "records[0].mean radius")
    assert "unknown feature" in error.message


@pytest.mark.parametrize("value, type_name", [
    ("12.5", "string"),
    (True, "boolean"),
    (False, "boolean"),
    (None, "null"),
    ([1.0], "array"),
    ({"value": 1.0}, "object"),
])
def test_wrong_type_is_named_with_its_json_type(value, type_name):
    error = expect_error(body_with([record_with("worst_radius", value)]), 422, "records[0].worst_radius")
    assert error.message == f"records[0].worst_radius must be a number, got {type_name}"


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_sent_as_raw_json_text_are_named(raw):
    body = body_with_raw_value("mean_area", raw, row_count=2)
    assert raw.encode() in body
    error = expect_error(body, 422, "records[1].mean_area")
    assert "records[1].mean_area must be a finite number" in error.message


@pytest.mark.parametrize("raw", ["1e39", "-1e39", "3.5e38", "1e300"])
def test_numbers_too_large_for_float32_are_named(raw):
    error = expect_error(body_with_raw_value("mean_area", raw), 422, "records[0].mean_area")
    assert "records[0].mean_area is out of range for a 32-bit float" == error.message


@pytest.mark.parametrize("raw", ["1e400", "1" + "0" * 400])
def test_numbers_too_large_for_float64_are_named(raw):
    # orjson refuses these; the stdlib fallback gives inf for 1e400 and an exact int for 10**400.
    error = expect_error(body_with_raw_value("mean_area", raw), 422, "records[0].mean_area")
    assert "records[0].mean_area" in error.message


def test_record_that_is_not_an_object_is_named():
    error = expect_error(body_with([good_record(), [1, 2, 3]]), 422, "records[1]")
    assert error.message == "records[1] must be an object of features, got array"


def test_empty_records_is_refused():
    error = expect_error(body_with([]), 422, "records")
    assert "records is empty" in error.message


@pytest.mark.parametrize("records, type_name", [({"a": 1}, "object"), ("x", "string"), (None, "null"), (3, "number")])
def test_records_that_is_not_a_list_is_refused(records, type_name):
    error = expect_error(json.dumps({"records": records}).encode(), 422, "records")
    assert error.message == f"records must be an array, got {type_name}"


def test_missing_records_is_refused():
    error = expect_error(b"{}", 422, "records")
    assert "missing field 'records'" in error.message


def test_unknown_top_level_key_is_named():
    error = expect_error(json.dumps({"records": [good_record()], "model": "x"}).encode(), 422, "model")
    assert "unknown top-level field 'model'" in error.message


def test_batch_over_max_batch_is_413():
    error = expect_error(body_with([good_record()] * (MAX_BATCH + 1)), 413, "records")
    assert f"holds {MAX_BATCH + 1} records, over the limit of {MAX_BATCH}" in error.message


def test_batch_size_is_checked_before_the_records_themselves():
    expect_error(body_with([{}] * (MAX_BATCH + 1)), 413, "records")


# The body as a whole ---------------------------------------------------------------------------

@pytest.mark.parametrize("body", [b"", b"{", b"{'records': []}", b"records=1", b"\xff\xfe\xfa", b'{"records": [}'])
def test_invalid_json_is_400(body):
    error = expect_error(body, 400, None)
    assert error.message.startswith("request body is not valid JSON")


@pytest.mark.parametrize("body, type_name", [(b"[1, 2]", "array"), (b'"records"', "string"), (b"null", "null"),
                                             (b"42", "number")])
def test_body_that_is_not_an_object_is_refused(body, type_name):
    error = expect_error(body, 422, None)
    assert error.message == f"request body must be a JSON object with a 'records' array, got {type_name}"


def test_parse_json_accepts_nan_only_through_the_fallback():
    assert parse_json(b'{"a": 1}') == {"a": 1}
    assert np.isnan(parse_json(b'{"a": NaN}')["a"])


# The fast path and the field-by-field pass -----------------------------------------------------

@pytest.mark.parametrize("value", [0, -7, 2**53 + 1, 2**63 + 12345, 10**30 + 7, 0.1, -2.5e-45, 1e-300, 3.0e38,
                                   -3.4028234663852886e38, 123456789.123456789])
def test_values_the_fast_path_accepts_convert_exactly_as_field_by_field(value):
    records = [record_with("mean_radius", value), good_record(0.5)]
    field_by_field = np.empty((2, len(FEATURE_NAMES)), dtype=np.float32)
    for row, record in enumerate(records):
        for name, number in record.items():
            field_by_field[row, FEATURE_NAMES.index(name)] = float(number)
    np.testing.assert_array_equal(validate(body_with(records)), field_by_field)


def test_values_whose_sum_exceeds_float32_are_still_accepted_one_by_one():
    # Each value fits a float32, their sum does not: the fast path declines, the slow path accepts.
    record = {name: 3.0e38 for name in FEATURE_NAMES}
    assert np.all(validate(body_with([record])) == np.float32(3.0e38))


def test_the_first_bad_field_in_the_clients_order_is_named_across_records():
    first = record_with("worst_area", "big")
    second = record_without("mean_radius")
    expect_error(body_with([first, second]), 422, "records[0].worst_area")
    # The client sent mean_area before mean_texture, though the model's columns put mean_texture first.
    reordered = dict(reversed(list(record_with("mean_area", None).items())))
    reordered["mean_texture"] = True
    error = expect_error(body_with([reordered]), 422, "records[0].mean_area")
    assert error.message == "records[0].mean_area must be a number, got null"
