"""The prediction log's export (model_app/export_predictions.py): JSON lines, oldest first, filtered, streamed."""

import io
import json
import sqlite3
from datetime import datetime, timezone

import pytest

from model_app import export_predictions
from model_app.export_predictions import export, parse_since, sqlite_rows
from model_app.prediction_log import PredictionRecord, SqliteStore

# Whole seconds and fractions: datetime.isoformat() drops a zero microsecond, so both spellings are in the log.
TIMES = (1_700_000_000.0, 1_700_000_000.25, 1_700_000_001.0, 1_700_003_600.5)


def record(number: int, created_at: float) -> PredictionRecord:
    return PredictionRecord(f"req-{number}", created_at, "1.0.0+abc", [{"mean_radius": float(number)}] * 2,
                            [{"label": "benign", "probabilities": {"malignant": 0.1, "benign": 0.9}}] * 2, 0.25)


@pytest.fixture
def log_path(tmp_path):
    """A SQLite log written by the service's own store, with a row at each of TIMES."""
    path = tmp_path / "data" / "predictions.sqlite"
    store = SqliteStore(path)
    store.connect()
    store.write([record(number, created).as_row() for number, created in enumerate(TIMES)])
    store.close()
    return path


def exported(rows) -> list[dict]:
    output = io.BytesIO()
    count = export(rows, output)
    lines = output.getvalue().decode().splitlines()
    assert count == len(lines)
    return [json.loads(line) for line in lines]


def test_every_prediction_is_one_json_object_per_line_with_its_inputs_and_outputs(log_path):
    lines = exported(sqlite_rows(log_path, since=None))
    assert [line["request_id"] for line in lines] == ["req-0", "req-1", "req-2", "req-3"]
    assert set(lines[0]) == {"request_id", "created_at", "model_version", "record_count", "inputs", "outputs",
                             "latency_ms"}
    assert lines[1] == {
        "request_id": "req-1", "created_at": "2023-11-14T22:13:20.250000+00:00", "model_version": "1.0.0+abc",
        "record_count": 2, "inputs": [{"mean_radius": 1.0}] * 2,
        "outputs": [{"label": "benign", "probabilities": {"malignant": 0.1, "benign": 0.9}}] * 2, "latency_ms": 0.25}


@pytest.mark.parametrize("since, first", [
    ("2023-11-14T22:13:20Z", "req-0"),              # at the exact time of a row: included
    ("2023-11-14T22:13:20.1+00:00", "req-1"),       # between a whole second and its fraction
    ("2023-11-14T22:13:20.25", "req-1"),            # no offset: UTC
    ("2023-11-14T23:13:20+01:00", "req-0"),         # another offset, the same instant
    ("2023-11-14T22:13:20.500001Z", "req-2"),
    ("2023-11-14T22:13:21Z", "req-2"),
    ("2023-11-14T23:13:20.5Z", "req-3"),
])
def test_since_keeps_the_predictions_at_or_after_that_instant(log_path, since, first):
    lines = exported(sqlite_rows(log_path, parse_since(since)))
    assert lines[0]["request_id"] == first
    assert all(datetime.fromisoformat(line["created_at"]) >= parse_since(since) for line in lines)
    assert len(lines) == 4 - int(first.removeprefix("req-"))


def test_a_date_alone_is_midnight_utc_and_a_time_that_is_not_iso_8601_names_the_option():
    assert parse_since("2026-12-03") == datetime(2026, 12, 3, tzinfo=timezone.utc)
    with pytest.raises(ValueError, match=r"--since must be an ISO 8601 time .*got 'yesterday'"):
        parse_since("yesterday")


def test_a_release_that_logged_nothing_yet_exports_nothing_and_creates_no_file(tmp_path):
    missing = tmp_path / "predictions.sqlite"
    assert exported(sqlite_rows(missing, since=None)) == []
    assert not missing.exists()
    sqlite3.connect(missing).close()  # a file without the table: the writer had not connected yet
    assert exported(sqlite_rows(missing, since=None)) == []


def test_rows_are_written_as_they_are_read_never_gathered_first():
    pulled = []

    def rows():
        for number in range(5):
            pulled.append(number)
            yield (f"req-{number}", "2026-01-01T00:00:00+00:00", "v", 1, "[]", "[]", 1.0)

    class Output(io.BytesIO):
        def write(self, data):
            assert len(pulled) == len(self.getvalue().splitlines()) + 1  # one row read per line written
            return super().write(data)

    assert export(rows(), Output()) == 5


def test_the_entry_point_reads_the_store_the_release_is_configured_with(log_path, monkeypatch, capsysbinary):
    monkeypatch.setenv("PREDICTION_LOG_PATH", str(log_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert export_predictions.main(["--since", "2023-11-14T22:13:21.5Z"]) == 0
    captured = capsysbinary.readouterr()
    assert [json.loads(line)["request_id"] for line in captured.out.splitlines()] == ["req-3"]
    assert b"1 predictions" in captured.err


def test_the_entry_point_refuses_a_bad_since_naming_it(monkeypatch, capsys):
    assert export_predictions.main(["--since", "12/03/2026"]) == 2
    assert "--since must be an ISO 8601 time" in capsys.readouterr().err
