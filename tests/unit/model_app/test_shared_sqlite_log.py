"""Two releases write one SQLite prediction log at once during a cutover (both mount the environment's volume on
the same host kernel): two processes, each with the service's own writer, lose no row and see no failed write."""

import multiprocessing
import sqlite3
import time
from pathlib import Path

from model_app.prediction_log import PredictionLog, PredictionRecord, SqliteStore
from model_app.telemetry import Telemetry

ROWS_PER_RELEASE = 3000
BURSTS = 60


def release_writing(path: str, release: str, start, results) -> None:
    """One release's prediction log: bursts of predictions, so that the two writers commit batches in turns."""
    telemetry = Telemetry()
    log = PredictionLog(SqliteStore(Path(path)), telemetry, max_queue=ROWS_PER_RELEASE)
    log.start()
    start.wait(10)
    per_burst = ROWS_PER_RELEASE // BURSTS
    for burst in range(BURSTS):
        for number in range(burst * per_burst, (burst + 1) * per_burst):
            log.submit(PredictionRecord(f"{release}-{number}", 1_700_000_000.0 + number, release,
                                        [{"mean_radius": 1.0}], [{"label": "benign"}], 0.1))
        # A short pause: the writer's 10 ms gather window closes and commits while the other one writes.
        time.sleep(0.004)
    stopped = log.stop(timeout=20)
    results.put((release, stopped, telemetry.registry.get_sample_value("prediction_log_written_total"),
                 telemetry.registry.get_sample_value("prediction_log_write_failures_total")))


def test_two_releases_writing_one_wal_log_at_once_lose_nothing(tmp_path):
    path = str(tmp_path / "predictions.sqlite")
    context = multiprocessing.get_context("fork")
    start, results = context.Event(), context.Queue()
    releases = [context.Process(target=release_writing, args=(path, name, start, results)) for name in ("old", "new")]
    for process in releases:
        process.start()
    start.set()
    reported = sorted(results.get(timeout=30) for _ in releases)
    for process in releases:
        process.join(10)
        assert process.exitcode == 0
    assert reported == [("new", True, ROWS_PER_RELEASE, 0), ("old", True, ROWS_PER_RELEASE, 0)]
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        written = connection.execute("SELECT model_version, COUNT(*), COUNT(DISTINCT request_id) FROM predictions"
                                     " GROUP BY model_version ORDER BY model_version").fetchall()
        # The two writers' commits interleave (ids alternate between releases more than once): it was concurrent. (On a
    # quiet machine dozens of times; a loaded one batches more, so the bound is low.)
        order = [row[0] for row in connection.execute("SELECT model_version FROM predictions ORDER BY id")]
    assert written == [("new", ROWS_PER_RELEASE, ROWS_PER_RELEASE), ("old", ROWS_PER_RELEASE, ROWS_PER_RELEASE)]
    assert sum(1 for before, after in zip(order, order[1:]) if before != after) >= 2
