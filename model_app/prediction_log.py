"""Record every prediction off the request path: a queue drained by one writer thread into SQLite or PostgreSQL."""

import logging
import queue
import sqlite3
import threading
import time
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import orjson

from model_app.telemetry import Telemetry

logger = logging.getLogger("model_app.prediction_log")

WRITE_BATCH = 500
# The writer waits this long after the first queued row before writing: one wake-up and one commit per
# window instead of per request, so the writer seldom takes the interpreter lock or a core from a request.
GATHER_SECONDS = 0.01
RETRY_BACKOFF_SECONDS = (0.1, 0.5, 1.0, 2.0, 5.0)
_STOP = object()
# Rows carry no id: the table generates one, so a client reusing an X-Request-ID loses nothing.
COLUMNS = "request_id, created_at, model_version, record_count, inputs, outputs, latency_ms"
# Rows per SQLite INSERT statement: at most 128 (7 parameters each stays under SQLite's oldest limit of 999),
# and a power of two, so that a handful of prepared statements (each ~100 kB) serve every batch size.
INSERT_SIZES = (128, 64, 32, 16, 8, 4, 2, 1)


class PredictionRecord(NamedTuple):
    """One prediction, as the request path hands it to the log."""

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
        # Statement journals (every multi-row INSERT of a batch writes one) stay in memory: beyond 64 KiB SQLite
        # would spill them to a temporary file, and on the image's read-only root there is no directory for one
        # (SQLITE_IOERR_GETTEMPPATH), so a burst's batch failed on every retry and the writer never moved on.
        self._connection.execute("PRAGMA temp_store=MEMORY")
        self._connection.execute(
            "CREATE TABLE IF NOT EXISTS predictions (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " request_id TEXT NOT NULL, created_at TEXT NOT NULL, model_version TEXT NOT NULL,"
            " record_count INTEGER NOT NULL, inputs TEXT NOT NULL, outputs TEXT NOT NULL, latency_ms REAL NOT NULL)"
        )
        self._connection.execute("CREATE INDEX IF NOT EXISTS predictions_request_id ON predictions (request_id)")
        self._connection.commit()

    def write(self, rows: list[tuple]) -> None:
        # Multi-row statements, not executemany: executemany releases and retakes the interpreter lock for
        # every row, and each retake can interrupt a request running on the event loop.
        with self._connection:
            start = 0
            while start < len(rows):
                size = next(size for size in INSERT_SIZES if size <= len(rows) - start)
                chunk = rows[start:start + size]
                self._connection.execute(_sqlite_insert(size), [value for row in chunk for value in row])
                start += size

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


@lru_cache(maxsize=None)
def _sqlite_insert(row_count: int) -> str:
    return f"INSERT INTO predictions ({COLUMNS}) VALUES " + ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * row_count)


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
        # SimpleQueue: a put is a C call without the locks and condition of queue.Queue; the bound is
        # checked by submit(), the only producer, on the event loop's thread.
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._max_queue = max_queue
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        telemetry.log_queue_depth.set_function(self._queue.qsize)

    def start(self) -> None:
        self._thread.start()

    def submit(self, record: PredictionRecord) -> None:
        if self._queue.qsize() < self._max_queue:
            # Formatted here (a few microseconds), not by the writer: formatting a whole batch there held
            # the interpreter lock for milliseconds, and requests arriving meanwhile waited (p99 at c1 doubled).
            self._queue.put(record.as_row())
        else:
            self._telemetry.log_dropped.inc()

    def stop(self, timeout: float) -> bool:
        """Write everything queued so far, then close. Returns False if that did not finish in time."""
        deadline = time.monotonic() + timeout
        self._queue.put(_STOP)  # never blocks, even when the queue is full (store down)
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
            if batch[0] is not _STOP and self._queue.qsize() < WRITE_BATCH:
                time.sleep(GATHER_SECONDS)
            while len(batch) < WRITE_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            # A request finishing while shutdown begins can queue behind the stop marker: write it too.
            stopping = any(item is _STOP for item in batch)
            if stopping:
                batch.extend(self._drain_remaining())
            rows = [item for item in batch if item is not _STOP]
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
