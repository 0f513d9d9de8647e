"""Turn a /predict request body into a feature matrix, or say exactly which field is wrong."""

import json
import math
from operator import itemgetter

import numpy as np
import orjson

from model_app.features import FEATURE_NAMES

FLOAT32_MAX = float(np.finfo(np.float32).max)
_FEATURE_INDEX = {name: index for index, name in enumerate(FEATURE_NAMES)}
_FEATURE_VALUES = itemgetter(*FEATURE_NAMES)  # a record's values, in the model's column order
INT64_MIN, UINT64_MAX = -(2**63), 2**64 - 1
_NUMBER_TYPES = frozenset({int, float})  # not bool: true/false are not measurements


class InputError(Exception):
    """A client error: HTTP status, the offending field (a JSON path) and a message that names it."""

    def __init__(self, status: int, field: str | None, message: str):
        super().__init__(message)
        self.status = status
        self.field = field
        self.message = message

    def as_body(self) -> dict:
        return {"error": {"status": self.status, "field": self.field, "message": self.message}}


def parse_json(body: bytes) -> object:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    # orjson rejects NaN/Infinity outright; the stdlib parser accepts them, so a second,
    # error-path-only parse lets us name the field that holds one instead of saying "bad JSON".
    # It parses what orjson would: UTF-8 only (json.loads would guess UTF-16 or UTF-32 from bytes), and
    # integers as orjson reads them, so that every value it returns is one the prediction log can store.
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(400, None, f"request body is not valid JSON: it is not UTF-8 (byte {error.start})") from None
    try:
        return json.loads(text, parse_int=_orjson_int)
    except (ValueError, RecursionError) as error:
        raise InputError(400, None, f"request body is not valid JSON: {error}") from None


def _orjson_int(literal: str) -> int | float:
    """An integer literal as orjson reads one: an int within 64 bits (signed or unsigned), else a float."""
    if len(literal) <= 20:
        value = int(literal)
        if INT64_MIN <= value <= UINT64_MAX:
            return value
    return float(literal)  # 10**400 becomes inf, which the range check names


def _feature_value(value: object, path: str) -> float:
    # bool is an int subclass in Python; true/false are not measurements.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(422, path, f"{path} must be a number, got {_json_type(value)}")
    try:
        number = float(value)
    except OverflowError:  # an integer literal beyond float64 (10**400)
        raise InputError(422, path, f"{path} is out of range for a 32-bit float") from None
    if math.isnan(number) or math.isinf(number):
        raise InputError(422, path, f"{path} must be a finite number, got {number}")
    if abs(number) > FLOAT32_MAX:
        raise InputError(422, path, f"{path} is out of range for a 32-bit float")
    return number


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", str: "string", list: "array", dict: "object", int: "number", float: "number"}.get(
        type(value), type(value).__name__
    )


def records_to_matrix(payload: object, max_batch: int) -> np.ndarray:
    """Validate {"records": [{feature: number, ...}, ...]} and return a float32 (n, features) matrix."""
    if not isinstance(payload, dict):
        raise InputError(422, None,
                         f"request body must be a JSON object with a 'records' array, got {_json_type(payload)}")
    if len(payload) != 1 or "records" not in payload:
        unknown_keys = sorted(set(payload) - {"records"})
        if unknown_keys:
            raise InputError(422, unknown_keys[0],
                             f"unknown top-level field '{unknown_keys[0]}'; expected only 'records'")
        raise InputError(422, "records", "missing field 'records' (an array of feature objects)")
    records = payload["records"]
    if not isinstance(records, list):
        raise InputError(422, "records", f"records must be an array, got {_json_type(records)}")
    if not records:
        raise InputError(422, "records", "records is empty; send at least one record")
    if len(records) > max_batch:
        raise InputError(413, "records",
                         f"records holds {len(records)} records, over the limit of {max_batch} per request")
    matrix = _matrix_if_plainly_valid(records)
    if matrix is not None:
        return matrix
    return _matrix_field_by_field(records)


def _matrix_if_plainly_valid(records: list) -> np.ndarray | None:
    """The common case in a few C-level passes: every record an object with exactly the features, every value
    an int or float whose magnitudes sum within float32. None when in doubt; the field-by-field pass decides."""
    rows = []
    for record in records:
        if type(record) is not dict or record.keys() != _FEATURE_INDEX.keys():
            return None
        values = _FEATURE_VALUES(record)
        if not _NUMBER_TYPES.issuperset(map(type, values)):
            return None
        try:
            # A NaN or an infinity fails this comparison; a sum within float32 bounds every value.
            if not sum(map(abs, values)) <= FLOAT32_MAX:
                return None
        except OverflowError:  # a float added to an integer beyond float64
            return None
        rows.append(values)
    # Through float64, as float() then a float32 store would convert it (an int is rounded once to float64).
    return np.array(rows, dtype=np.float64).astype(np.float32)


def _matrix_field_by_field(records: list) -> np.ndarray:
    """Check each value in the client's order, so that the error names the first bad field it sent."""
    matrix = np.empty((len(records), len(FEATURE_NAMES)), dtype=np.float32)
    for row, record in enumerate(records):
        path = f"records[{row}]"
        if not isinstance(record, dict):
            raise InputError(422, path, f"{path} must be an object of features, got {_json_type(record)}")
        if len(record) != len(FEATURE_NAMES) or record.keys() != _FEATURE_INDEX.keys():
            _raise_for_feature_names(record, path)
        for name, value in record.items():
            matrix[row, _FEATURE_INDEX[name]] = _feature_value(value, f"{path}.{name}")
    return matrix


def _raise_for_feature_names(record: dict, path: str) -> None:
    unknown = [name for name in record if name not in _FEATURE_INDEX]
    if unknown:
        raise InputError(422, f"{path}.{unknown[0]}", f"unknown feature '{unknown[0]}' in {path}")
    missing = [name for name in FEATURE_NAMES if name not in record]
    raise InputError(
        422, f"{path}.{missing[0]}",
        f"missing feature '{missing[0]}' in {path}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""),
    )
