"""Stream the prediction log as JSON lines: `python -m model_app.export_predictions [--since T]`.

It runs inside a release (`ci predictions export` starts it with `docker exec`), so it reads the store that release
is configured with (DATABASE_URL, else PREDICTION_LOG_PATH) and the store's credentials never leave the container.
Rows are read and written one at a time, oldest first: a log larger than memory exports as well as a small one.
"""

import argparse
import os
import sqlite3
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import orjson

from model_app.settings import SettingsError, settings_from_env

FIELDS = ("request_id", "created_at", "model_version", "record_count", "inputs", "outputs", "latency_ms")
# Rows a PostgreSQL server-side cursor hands over per round trip.
FETCH_ROWS = 1000
# inputs and outputs are stored as JSON text; ::text hands PostgreSQL's JSONB over as text too, so that both stores
# embed it as it is (orjson.Fragment) instead of parsing and re-serialising every row.
_SQLITE_QUERY = ("SELECT request_id, created_at, model_version, record_count, inputs, outputs, latency_ms"
                 " FROM predictions")
_POSTGRES_QUERY = ("SELECT request_id, created_at, model_version, record_count, inputs::text, outputs::text, latency_ms"
                   " FROM predictions")


def parse_since(text: str) -> datetime:
    """An ISO 8601 date or time (no offset means UTC) as a UTC time; ValueError naming --since otherwise."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"--since must be an ISO 8601 time such as 2026-12-03T10:00:00Z or 2026-12-03, "
                         f"got {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def sqlite_rows(path: Path, since: datetime | None) -> Iterator[tuple]:
    """The rows of a SQLite log, oldest first, never creating the file (a release that has not logged yet has none).
    created_at is stored as datetime.isoformat() in UTC, so text order is time order and since compares as text."""
    if not path.exists():
        return
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        where, parameters = (" WHERE created_at >= ?", (since.isoformat(),)) if since else ("", ())
        try:
            cursor = connection.execute(f"{_SQLITE_QUERY}{where} ORDER BY id", parameters)
        except sqlite3.OperationalError as error:
            if "no such table" in str(error):
                return
            raise
        yield from cursor
    finally:
        connection.close()


def postgres_rows(url: str, since: datetime | None) -> Iterator[tuple]:
    import psycopg

    with psycopg.connect(url, connect_timeout=10) as connection:
        # A named cursor lives on the server: rows arrive FETCH_ROWS at a time, not all at once.
        with connection.cursor(name="export_predictions") as cursor:
            cursor.itersize = FETCH_ROWS
            where, parameters = (" WHERE created_at >= %s", (since,)) if since else ("", ())
            cursor.execute(f"{_POSTGRES_QUERY}{where} ORDER BY id", parameters)
            for row in cursor:
                created = row[1].astimezone(timezone.utc).isoformat()
                yield (row[0], created, *row[2:])


def json_line(row: tuple) -> bytes:
    record = dict(zip(FIELDS, row))
    record["inputs"] = orjson.Fragment(record["inputs"])
    record["outputs"] = orjson.Fragment(record["outputs"])
    return orjson.dumps(record) + b"\n"


def export(rows: Iterator[tuple], output) -> int:
    count = 0
    for row in rows:
        output.write(json_line(row))
        count += 1
    output.flush()
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model_app.export_predictions", description=__doc__.split("\n")[0])
    parser.add_argument("--since", help="only predictions at or after this ISO 8601 time (UTC when no offset)")
    args = parser.parse_args(argv)
    try:
        since = parse_since(args.since) if args.since else None
        settings = settings_from_env()
    except (ValueError, SettingsError) as error:
        print(f"export_predictions: {error}", file=sys.stderr)
        return 2
    if settings.database_url:
        rows = postgres_rows(settings.database_url, since)
    else:
        rows = sqlite_rows(settings.prediction_log_path, since)
    try:
        count = export(rows, sys.stdout.buffer)
    except BrokenPipeError:  # the reader stopped early (| head): not an error of the export
        # Python would flush stdout again at exit and fail on the same pipe (the signal module's documented recipe).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    print(f"export_predictions: {count} predictions", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
