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
from urllib.parse import unquote, urlsplit

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
# What a row costs beside its two JSON texts (the tuple, its id, time and version strings), as counted in the bound.
ROW_OVERHEAD_BYTES = 256


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


MASK = "********"  # as ci/redaction.py masks; the service image carries model_app/ only, so it cannot import it


def safe_text(error: BaseException, secrets: tuple[str, ...]) -> str:
    """An error's text with every secret masked: a driver's error may quote the connection string."""
    text = str(error)
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, MASK)
    return text


def row_bytes(row: tuple) -> int:
    """The memory a queued row holds, as the queue's byte bound counts it: its JSON texts and a fixed overhead."""
    return len(row[4]) + len(row[5]) + ROW_OVERHEAD_BYTES


class SqliteStore:
    description = "sqlite"
    secrets: tuple[str, ...] = ()

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

    @property
    def secrets(self) -> tuple[str, ...]:
        """The URL's password as written and as decoded: either may appear in a driver's error."""
        try:
            password = urlsplit(self.url).password or ""
        except ValueError:
            return (self.url,)
        return (password, unquote(password))

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
    """Requests only enqueue (microseconds); one thread batches rows into the store and retries on failure.

    The queue is bounded in rows and in bytes: a row counts against the byte bound from its submit until the
    store has it, so a store that is down (a full disk, a database away) holds at most `max_queue_bytes` of
    predictions in memory, however long it stays down; beyond the bound a prediction is dropped and counted."""

    def __init__(self, store, telemetry: Telemetry, max_queue: int, max_queue_bytes: int = 64 * 2**20):
        self._store = store
        self._telemetry = telemetry
        # SimpleQueue: a put is a C call without the locks and condition of queue.Queue; the bounds are
        # checked by submit(), the only producer, on the event loop's thread.
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._max_queue = max_queue
        self._max_bytes = max_queue_bytes
        # Bytes submitted (written by submit only) and bytes the store took (written by the writer only): each
        # counter has one writer, so no lock; their difference is what the queue and the batch in hand hold.
        self._bytes_in = 0
        self._bytes_out = 0
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._dropped_full = telemetry.log_dropped.labels(reason="queue_full")
        self._dropped_unstorable = telemetry.log_dropped.labels(reason="unstorable")
        telemetry.log_queue_depth.set_function(self._queue.qsize)
        telemetry.log_queue_bytes.set_function(self.queued_bytes)

    def queued_bytes(self) -> int:
        return self._bytes_in - self._bytes_out

    def start(self) -> None:
        self._thread.start()

    def submit(self, record: PredictionRecord) -> None:
        """Queue a prediction, or count why not; never raises (it runs on the request path, after the answer)."""
        try:
            # Formatted here (a few microseconds), not by the writer: formatting a whole batch there held
            # the interpreter lock for milliseconds, and requests arriving meanwhile waited (p99 at c1 doubled).
            row = record.as_row()
        except (TypeError, ValueError):  # a value JSON cannot carry (an integer beyond 64 bits)
            self._dropped_unstorable.inc()
            return
        size = row_bytes(row)
        if self._queue.qsize() >= self._max_queue or self._bytes_in - self._bytes_out + size > self._max_bytes:
            self._dropped_full.inc()
            return
        self._bytes_in += size
        self._queue.put(row)

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
                self._telemetry.log_store_up.set(1)
                return
            except Exception as error:  # any driver error: keep serving, keep trying
                self._telemetry.log_failures.inc()
                self._telemetry.log_store_up.set(0)
                delay = RETRY_BACKOFF_SECONDS[min(attempt, len(RETRY_BACKOFF_SECONDS) - 1)]
                logger.warning("prediction log: cannot connect to %s (%s); retrying in %.1fs",
                               self._store.description, self._safe(error), delay)
                attempt += 1
                time.sleep(delay)

    def _write_with_retry(self, rows: list[tuple]) -> None:
        attempt = 0
        while True:
            try:
                self._store.write(rows)
                self._telemetry.log_written.inc(len(rows))
                self._telemetry.log_store_up.set(1)
                self._bytes_out += sum(map(row_bytes, rows))
                return
            except Exception as error:  # keep the rows and retry; a request never waits on this
                self._telemetry.log_failures.inc()
                self._telemetry.log_store_up.set(0)
                delay = RETRY_BACKOFF_SECONDS[min(attempt, len(RETRY_BACKOFF_SECONDS) - 1)]
                logger.warning("prediction log: write of %d rows failed (%s); retrying in %.1fs",
                               len(rows), self._safe(error), delay)
                attempt += 1
                time.sleep(delay)
                self._reconnect()

    def _reconnect(self) -> None:
        try:
            self._store.close()
            self._store.connect()
        except Exception as error:
            logger.warning("prediction log: reconnect failed: %s", self._safe(error))

    def _safe(self, error: BaseException) -> str:
        return safe_text(error, getattr(self._store, "secrets", ()))
