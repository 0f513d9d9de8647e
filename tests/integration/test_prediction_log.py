"""Predictions land in PostgreSQL, off the request path, and a clean shutdown loses none of them."""

import signal
import time
import uuid

import psycopg
import requests


def logged_rows(database_url: str, request_ids: list[str]) -> list[tuple]:
    with psycopg.connect(database_url) as connection:
        try:
            return connection.execute(
                "SELECT request_id, model_version, record_count, inputs, outputs, latency_ms FROM predictions"
                " WHERE request_id = ANY(%s)", (request_ids,)).fetchall()
        except psycopg.errors.UndefinedTable:
            # The log's writer creates the table when it first connects, off the request path: until then, the
            # first test to run (the export's) finds none yet.
            return []


def wait_for_rows(database_url: str, request_ids: list[str], timeout: float = 15) -> list[tuple]:
    deadline = time.monotonic() + timeout
    rows = []
    while time.monotonic() < deadline:
        rows = logged_rows(database_url, request_ids)
        if len(rows) >= len(request_ids):
            return rows
        time.sleep(0.2)
    return rows


def test_a_prediction_of_the_stack_lands_in_postgres(model_url, database_url, eval_records):
    request_id = f"it-{uuid.uuid4().hex}"
    response = requests.post(f"{model_url}/predict", json={"records": eval_records[:2]}, timeout=10,
                             headers={"x-request-id": request_id})
    assert response.status_code == 200
    rows = wait_for_rows(database_url, [request_id])
    assert len(rows) == 1
    _, model_version, record_count, inputs, outputs, latency_ms = rows[0]
    assert model_version == response.json()["model_version"]
    assert record_count == 2
    assert inputs == eval_records[:2]
    assert outputs == response.json()["predictions"]
    assert latency_ms > 0


def test_a_clean_shutdown_writes_every_prediction_to_postgres(spawn_server, model_copy, database_url, eval_records):
    server = spawn_server(model_copy, {"DATABASE_URL": database_url})
    run = uuid.uuid4().hex[:8]
    request_ids = [f"shutdown-{run}-{index}" for index in range(200)]
    with requests.Session() as session:
        for request_id in request_ids:
            response = session.post(f"{server.url}/predict", json={"records": eval_records[:2]}, timeout=10,
                                    headers={"x-request-id": request_id})
            assert response.status_code == 200
    # uvicorn re-raises SIGTERM after its graceful shutdown, so the exit status is the signal's.
    assert server.stop() in (0, -signal.SIGTERM)
    # Read right after exit, with no waiting: whatever is not in the table now was lost.
    rows = logged_rows(database_url, request_ids)
    assert sorted(row[0] for row in rows) == sorted(request_ids)
    assert "Finished server process" in server.log()
