"""Prediction log (model_app/prediction_log.py): every prediction written, off the request path."""

import json
import sqlite3
import threading
import time
from datetime import datetime

import pytest

from model_app import prediction_log
from model_app.prediction_log import PredictionLog, PredictionRecord, SqliteStore
from model_app.telemetry import Telemetry

MODEL_VERSION = "1.0.0+abcdef123456"


def make_record(number: int) -> PredictionRecord:
    return PredictionRecord(
        request_id=f"req-{number:05d}",
        created_at=1_700_000_000.0 + number,
        model_version=MODEL_VERSION,
        inputs=[{"mean_radius": float(number), "mean_texture": 1.5}],
        outputs=[{"label": "benign", "probabilities": {"malignant": 0.25, "benign": 0.75}}],
        latency_ms=0.5 + number,
    )


def read_rows(path) -> list:
    with sqlite3.connect(path) as connection:
        return connection.execute(
            "SELECT request_id, created_at, model_version, record_count, inputs, outputs, latency_ms"
            " FROM predictions ORDER BY request_id").fetchall()


def counter(telemetry: Telemetry, name: str) -> float:
    return telemetry.registry.get_sample_value(name)


def dropped(telemetry: Telemetry, reason: str) -> float:
    return telemetry.registry.get_sample_value("prediction_log_dropped_total", {"reason": reason})


def big_record(number: int, features: int = 30, records: int = 256) -> PredictionRecord:
    """A full valid request's worth: 256 records of 30 features make a row of ~190 kB of JSON."""
    inputs = [{f"feature_{index}": 123456.789 + index + row for index in range(features)} for row in range(records)]
    return make_record(number)._replace(inputs=inputs)


class FakeStore:
    """An in-memory store whose first `failing_writes` writes raise, and whose connect can be held."""

    description = "fake"

    def __init__(self, failing_writes: int = 0, connect_gate: threading.Event | None = None):
        self.failing_writes = failing_writes
        self.connect_gate = connect_gate
        self.rows: list[tuple] = []
        self.write_attempts = 0
        self.connects = 0
        self.closed = False

    def connect(self) -> None:
        if self.connect_gate is not None:
            self.connect_gate.wait()
        self.connects += 1
        self.closed = False

    def write(self, rows: list[tuple]) -> None:
        self.write_attempts += 1
        if self.write_attempts <= self.failing_writes:
            raise ConnectionError(f"database went away (attempt {self.write_attempts})")
        self.rows.extend(rows)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fast_retries(monkeypatch):
    monkeypatch.setattr(prediction_log, "RETRY_BACKOFF_SECONDS", (0.001, 0.002))


def test_submitted_records_are_all_written_to_sqlite(tmp_path):
    path = tmp_path / "db" / "predictions.sqlite"
    telemetry = Telemetry()
    log = PredictionLog(SqliteStore(path), telemetry, max_queue=1000)
    log.start()
    for number in range(25):
        log.submit(make_record(number))
    assert log.stop(timeout=5) is True

    rows = read_rows(path)
    assert len(rows) == 25
    assert [row[0] for row in rows] == [f"req-{number:05d}" for number in range(25)]
    assert {row[2] for row in rows} == {MODEL_VERSION}
    request_id, created_at, _, record_count, inputs, outputs, latency_ms = rows[7]
    assert request_id == "req-00007"
    assert datetime.fromisoformat(created_at).timestamp() == 1_700_000_007.0
    assert record_count == 1
    assert json.loads(inputs) == [{"mean_radius": 7.0, "mean_texture": 1.5}]
    assert json.loads(outputs) == [{"label": "benign", "probabilities": {"malignant": 0.25, "benign": 0.75}}]
    assert latency_ms == 7.5
    assert counter(telemetry, "prediction_log_written_total") == 25
    assert counter(telemetry, "prediction_log_write_failures_total") == 0


def test_records_submitted_just_before_stop_are_not_lost(tmp_path):
    # More than one write batch (WRITE_BATCH) is still queued when stop() is called.
    count = prediction_log.WRITE_BATCH * 2 + 37
    path = tmp_path / "predictions.sqlite"
    log = PredictionLog(SqliteStore(path), Telemetry(), max_queue=10_000)
    log.start()
    for number in range(count):
        log.submit(make_record(number))
    assert log.stop(timeout=10) is True
    rows = read_rows(path)
    assert len(rows) == count
    assert {row[0] for row in rows} == {f"req-{number:05d}" for number in range(count)}


def test_records_queued_before_the_store_connects_are_written_on_stop():
    gate = threading.Event()
    store = FakeStore(connect_gate=gate)
    log = PredictionLog(store, Telemetry(), max_queue=100)
    log.start()
    for number in range(10):
        log.submit(make_record(number))
    assert store.rows == []  # the writer is still waiting to connect
    gate.set()
    assert log.stop(timeout=5) is True
    assert [row[0] for row in store.rows] == [f"req-{number:05d}" for number in range(10)]
    assert store.closed


def test_failed_writes_are_retried_until_every_row_is_written(fast_retries):
    telemetry = Telemetry()
    store = FakeStore(failing_writes=2)
    log = PredictionLog(store, telemetry, max_queue=100)
    log.start()
    for number in range(5):
        log.submit(make_record(number))
    assert log.stop(timeout=5) is True

    assert sorted(row[0] for row in store.rows) == [f"req-{number:05d}" for number in range(5)]
    assert len(store.rows) == 5  # retried, not duplicated
    assert store.write_attempts >= 3
    assert counter(telemetry, "prediction_log_write_failures_total") == 2
    assert counter(telemetry, "prediction_log_written_total") == 5
    assert store.connects == 3  # the first connect, then a reconnect after each failure


def test_full_queue_counts_drops_instead_of_blocking():
    gate = threading.Event()
    telemetry = Telemetry()
    store = FakeStore(connect_gate=gate)
    log = PredictionLog(store, telemetry, max_queue=3)
    log.start()  # the writer blocks in connect(), so nothing leaves the queue

    started = time.perf_counter()
    for number in range(10):
        log.submit(make_record(number))
    assert time.perf_counter() - started < 0.5

    assert dropped(telemetry, "queue_full") == 7
    assert counter(telemetry, "prediction_log_queue_depth") == 3
    gate.set()
    assert log.stop(timeout=5) is True
    assert [row[0] for row in store.rows] == ["req-00000", "req-00001", "req-00002"]
    assert counter(telemetry, "prediction_log_queue_depth") == 0


def test_stop_reports_false_when_the_store_never_becomes_available(fast_retries):
    gate = threading.Event()
    log = PredictionLog(FakeStore(connect_gate=gate), Telemetry(), max_queue=10)
    log.start()
    log.submit(make_record(1))
    try:
        assert log.stop(timeout=0.1) is False
    finally:
        gate.set()  # let the writer thread finish


def test_stop_honours_its_timeout_even_when_the_queue_is_full():
    # The store is down long enough for the queue to fill: shutdown must still end on time.
    gate = threading.Event()
    log = PredictionLog(FakeStore(connect_gate=gate), Telemetry(), max_queue=2)
    log.start()
    for number in range(3):
        log.submit(make_record(number))
    results = []
    stopper = threading.Thread(target=lambda: results.append(log.stop(timeout=0.2)), daemon=True)
    try:
        stopper.start()
        stopper.join(2)  # in a thread, so that a stop() that hangs fails this test instead of hanging the run
        assert not stopper.is_alive(), "stop() ignored its timeout"
        assert results == [False]
    finally:
        gate.set()


def test_connection_failures_are_retried(fast_retries):
    telemetry = Telemetry()

    class FlakyConnectStore(FakeStore):
        def connect(self):
            self.connects += 1
            if self.connects <= 2:
                raise ConnectionRefusedError("not yet")

    store = FlakyConnectStore()
    log = PredictionLog(store, telemetry, max_queue=10)
    log.start()
    log.submit(make_record(1))
    assert log.stop(timeout=5) is True
    assert [row[0] for row in store.rows] == ["req-00001"]
    assert counter(telemetry, "prediction_log_write_failures_total") == 2


def test_record_as_row_serialises_inputs_and_outputs_as_json():
    row = make_record(3).as_row()
    assert row[0] == "req-00003"
    assert row[1] == "2023-11-14T22:13:23+00:00"
    assert row[2:4] == (MODEL_VERSION, 1)
    assert json.loads(row[4]) == [{"mean_radius": 3.0, "mean_texture": 1.5}]
    assert json.loads(row[5])[0]["label"] == "benign"
    assert row[6] == 3.5


def test_store_for_picks_sqlite_without_a_database_url(tmp_path):
    store = prediction_log.store_for("", tmp_path / "x.sqlite")
    assert isinstance(store, SqliteStore) and store.path == tmp_path / "x.sqlite"
    postgres = prediction_log.store_for("postgresql://u@h/db", tmp_path / "x.sqlite")
    assert isinstance(postgres, prediction_log.PostgresStore) and postgres.url == "postgresql://u@h/db"


def test_a_reused_request_id_keeps_both_predictions(tmp_path):
    path = tmp_path / "predictions.sqlite"
    log = PredictionLog(SqliteStore(path), Telemetry(), max_queue=100)
    log.start()
    log.submit(make_record(1))
    log.submit(make_record(1))
    assert log.stop(timeout=10)
    assert [row[0] for row in read_rows(path)] == ["req-00001", "req-00001"]


def test_records_queued_behind_the_stop_marker_are_written_too():
    gate = threading.Event()
    store = FakeStore(connect_gate=gate)
    log = PredictionLog(store, Telemetry(), max_queue=100)
    log.start()
    log.submit(make_record(1))
    stopper = threading.Thread(target=log.stop, args=(10,))
    stopper.start()
    while log._queue.qsize() < 2:  # the stop marker is queued behind record 1
        time.sleep(0.001)
    log.submit(make_record(2))
    gate.set()
    stopper.join(timeout=10)
    assert sorted(row[0] for row in store.rows) == ["req-00001", "req-00002"]


@pytest.mark.parametrize("count", [1, 7, 128, 203])
def test_sqlite_store_writes_every_row_of_any_batch_size_in_order(tmp_path, count):
    # Batches go out as multi-row INSERTs of power-of-two sizes: 203 rows are 128 + 64 + 8 + 2 + 1.
    path = tmp_path / "predictions.sqlite"
    store = SqliteStore(path)
    store.connect()
    store.write([make_record(number).as_row() for number in range(count)])
    store.close()
    rows = read_rows(path)
    assert [row[0] for row in rows] == [f"req-{number:05d}" for number in range(count)]
    assert rows[-1] == make_record(count - 1).as_row()


# Bounded in bytes (issue 14, defect 1) ----------------------------------------------------------------------

def test_the_queue_is_bounded_in_bytes_as_well_as_rows():
    gate = threading.Event()
    telemetry = Telemetry()
    row_bytes = prediction_log.row_bytes(big_record(0).as_row())
    log = PredictionLog(FakeStore(connect_gate=gate), telemetry, max_queue=100_000, max_queue_bytes=3 * row_bytes)
    log.start()  # the writer waits in connect(): nothing leaves the queue
    for number in range(10):
        log.submit(big_record(number))
    assert dropped(telemetry, "queue_full") == 7
    assert counter(telemetry, "prediction_log_queue_depth") == 3
    assert counter(telemetry, "prediction_log_queue_bytes") == 3 * row_bytes
    gate.set()
    assert log.stop(timeout=5) is True
    assert counter(telemetry, "prediction_log_queue_bytes") == 0


def test_a_store_that_keeps_failing_never_holds_more_than_the_byte_bound(fast_retries):
    # A full disk: every write fails. The batch being retried counts against the bound until it is written, so
    # memory stays within it however long the store stays down, and the rest is dropped and counted.
    telemetry = Telemetry()
    store = FakeStore(failing_writes=10**9)
    row_bytes = prediction_log.row_bytes(big_record(0).as_row())
    log = PredictionLog(store, telemetry, max_queue=100_000, max_queue_bytes=5 * row_bytes)
    log.start()
    for number in range(40):
        log.submit(big_record(number))
        assert counter(telemetry, "prediction_log_queue_bytes") <= 5 * row_bytes
        time.sleep(0.005)
    assert store.write_attempts > 3
    assert dropped(telemetry, "queue_full") == 35
    assert counter(telemetry, "prediction_log_store_up") == 0
    assert log.stop(timeout=0.2) is False  # what could not be written is reported, not waited for forever
    store.failing_writes = 0


def test_store_up_reports_the_last_attempt(fast_retries):
    telemetry = Telemetry()
    store = FakeStore(failing_writes=1)
    log = PredictionLog(store, telemetry, max_queue=100)
    log.start()
    log.submit(make_record(1))
    assert log.stop(timeout=5) is True
    assert counter(telemetry, "prediction_log_store_up") == 1
    assert counter(telemetry, "prediction_log_write_failures_total") == 1


def test_a_record_the_store_cannot_hold_is_dropped_and_counted_not_raised_on_the_request_path():
    telemetry = Telemetry()
    store = FakeStore()
    log = PredictionLog(store, telemetry, max_queue=100)
    log.start()
    log.submit(make_record(1)._replace(inputs=[{"mean_radius": 2**70}]))  # orjson: Integer exceeds 64-bit range
    log.submit(make_record(2))
    assert log.stop(timeout=5) is True
    assert dropped(telemetry, "unstorable") == 1
    assert [row[0] for row in store.rows] == ["req-00002"]


def test_a_failing_postgres_connection_never_logs_its_password(fast_retries, caplog):
    # psycopg puts the URL's text in its errors ("invalid percent-encoded token: "Pa%ss-w0rd""), and the writer
    # retries forever: the password would be logged every few seconds. Both spellings of it are masked.
    store = prediction_log.PostgresStore("postgresql://app:Pa%ss-w0rd@127.0.0.1:1/db")
    log = PredictionLog(store, Telemetry(), max_queue=10)
    with caplog.at_level("WARNING", logger="model_app.prediction_log"):
        log.start()
        deadline = time.monotonic() + 5
        while caplog.text.count("cannot connect") < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert caplog.text.count("cannot connect") >= 2
    assert "ss-w0rd" not in caplog.text
    assert "********" in caplog.text
    log.stop(timeout=0.05)
    store.url = "postgresql://app:x@127.0.0.1:1/db"  # let the writer thread end its retries quietly
