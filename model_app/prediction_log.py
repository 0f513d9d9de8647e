"""Record every prediction off the request path: a queue drained by one writer thread into SQLite or PostgreSQL."""

import logging
import queue
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import orjson

from model_app.telemetry import Telemetry

logger = logging.getLogger("model_app.prediction_log")

WRITE_BATCH = 500
RETRY_BACKOFF_SECONDS = (0.1, 0.5, 1.0, 2.0, 5.0)
_STOP = object()
# Rows carry no id: the table generates one, so a client reusing an X-Request-ID loses nothing.
COLUMNS = "request_id, created_at, model_version, record_count, inputs, outputs, latency_ms"


@dataclass(frozen=True)
class PredictionRecord:
    request_id: str
    created_at: float
    model_version: str
    inputs: list
    outputs: list
    latency_ms: float

    def as_row(self) -> tuple:
        created = datetime.fromtimestamp(self.created_at, tz=timezone.utc).isoformat()
        return (
            self.request_id, created, self.model_version, len(self.inputs),
            orjson.dumps(self.inputs).decode(), orjson.dumps(self.outputs).decode(), self.latency_ms,
        )


class SqliteStore:
    description = "sqlite"

    def __init__(self, path: Path):
        self.path = path
        self._connection: sqlite3.Connection | None = None

    def connect(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._connection = sqlite3.connect(self.path, check_same_thread=False)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute(
            "CREATE TABLE IF NOT EXISTS predictions (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " request_id TEXT NOT NULL, created_at TEXT NOT NULL, model_version TEXT NOT NULL,"
            " record_count INTEGER NOT NULL, inputs TEXT NOT NULL, outputs TEXT NOT NULL, latency_ms REAL NOT NULL)"
        )
        self._connection.execute("CREATE INDEX IF NOT EXISTS predictions_request_id ON predictions (request_id)")
        self._connection.commit()

    def write(self, rows: list[tuple]) -> None:
        with self._connection:
            self._connection.executemany(
                f"INSERT INTO predictions ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", rows,
            )

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class PostgresStore:
    description = "postgresql"

    def __init__(self, url: str):
        self.url = url
        self._connection = None

    def connect(self) -> None:
        import psycopg

        self._connection = psycopg.connect(self.url, connect_timeout=5, autocommit=False)
        with self._connection.transaction():
            self._connection.execute(
                "CREATE TABLE IF NOT EXISTS predictions (id BIGSERIAL PRIMARY KEY, request_id TEXT NOT NULL,"
                " created_at TIMESTAMPTZ NOT NULL, model_version TEXT NOT NULL, record_count INTEGER NOT NULL,"
                " inputs JSONB NOT NULL, outputs JSONB NOT NULL, latency_ms DOUBLE PRECISION NOT NULL)"
            )
            self._connection.execute(
                "CREATE INDEX IF NOT EXISTS predictions_request_id ON predictions (request_id)")

    def write(self, rows: list[tuple]) -> None:
        with self._connection.transaction(), self._connection.cursor() as cursor:
            cursor.executemany(f"INSERT INTO predictions ({COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)", rows)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def store_for(database_url: str, sqlite_path: Path):
    return PostgresStore(database_url) if database_url else SqliteStore(sqlite_path)


class PredictionLog:
    """Requests only enqueue (microseconds); one thread batches rows into the store and retries on failure."""

    def __init__(self, store, telemetry: Telemetry, max_queue: int):
        self._store = store
        self._telemetry = telemetry
        self._queue: queue.Queue = queue.Queue(maxsize=max_queue)
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        telemetry.log_queue_depth.set_function(self._queue.qsize)

    def start(self) -> None:
        self._thread.start()

    def submit(self, record: PredictionRecord) -> None:
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self._telemetry.log_dropped.inc()

    def stop(self, timeout: float) -> bool:
        """Write everything queued so far, then close. Returns False if that did not finish in time."""
        deadline = time.monotonic() + timeout
        try:  # a full queue (store down) must not make shutdown wait past its timeout
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            pass
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            logger.error("prediction log: %d predictions not written before shutdown timeout", self._queue.qsize())
            return False
        return True

    def _run(self) -> None:
        self._connect_with_retry()
        stopping = False
        while not stopping:
            batch = [self._queue.get()]
            while len(batch) < WRITE_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            # A request finishing while shutdown begins can queue behind the stop marker: write it too.
            stopping = any(item is _STOP for item in batch)
            if stopping:
                batch.extend(self._drain_remaining())
            rows = [item.as_row() for item in batch if item is not _STOP]
            if rows:
                self._write_with_retry(rows)
        self._store.close()

    def _drain_remaining(self) -> list:
        items = []
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                return items

    def _connect_with_retry(self) -> None:
        attempt = 0
        while True:
            try:
                self._store.connect()
                logger.info("prediction log: writing to %s", self._store.description)
                return
            except Exception as error:  # any driver error: keep serving, keep trying
                self._telemetry.log_failures.inc()
                delay = RETRY_BACKOFF_SECONDS[min(attempt, len(RETRY_BACKOFF_SECONDS) - 1)]
                logger.warning("prediction log: cannot connect to %s (%s); retrying in %.1fs",
                               self._store.description, error, delay)
                attempt += 1
                time.sleep(delay)

    def _write_with_retry(self, rows: list[tuple]) -> None:
        attempt = 0
        while True:
            try:
                self._store.write(rows)
                self._telemetry.log_written.inc(len(rows))
                return
            except Exception as error:  # keep the rows and retry; a request never waits on this
                self._telemetry.log_failures.inc()
                delay = RETRY_BACKOFF_SECONDS[min(attempt, len(RETRY_BACKOFF_SECONDS) - 1)]
                logger.warning("prediction log: write of %d rows failed (%s); retrying in %.1fs",
                               len(rows), error, delay)
                attempt += 1
                time.sleep(delay)
                self._reconnect()

    def _reconnect(self) -> None:
        try:
            self._store.close()
            self._store.connect()
        except Exception as error:
            logger.warning("prediction log: reconnect failed: %s", error)
