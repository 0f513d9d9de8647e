"""The prediction log's export from PostgreSQL (model_app/export_predictions.py), as `ci predictions export` runs it
inside a release that logs there: JSON lines of the stack's own predictions, oldest first, --since honoured."""

import json
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone

import requests

from tests.integration.test_prediction_log import wait_for_rows


def export(database_url: str, *args: str) -> list[dict]:
    result = subprocess.run([sys.executable, "-m", "model_app.export_predictions", *args], capture_output=True,
                            env={**os.environ, "DATABASE_URL": database_url}, timeout=60)
    assert result.returncode == 0, result.stderr.decode()
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_the_export_streams_the_postgresql_log_as_json_lines(model_url, database_url, eval_records):
    run = uuid.uuid4().hex[:8]
    before = [f"export-{run}-before-{index}" for index in range(3)]
    after = [f"export-{run}-after-{index}" for index in range(3)]
    answers = {}
    for request_id in before:
        answers[request_id] = requests.post(f"{model_url}/predict", json={"records": eval_records[:2]}, timeout=10,
                                            headers={"x-request-id": request_id}).json()
    wait_for_rows(database_url, before)
    time.sleep(0.05)
    between = datetime.now(timezone.utc)
    for request_id in after:
        requests.post(f"{model_url}/predict", json={"records": eval_records[:1]}, timeout=10,
                      headers={"x-request-id": request_id}).raise_for_status()
    wait_for_rows(database_url, after)

    lines = [line for line in export(database_url) if line["request_id"].startswith(f"export-{run}-")]
    assert [line["request_id"] for line in lines] == before + after
    first = lines[0]
    assert first["inputs"] == eval_records[:2] and first["outputs"] == answers[before[0]]["predictions"]
    assert first["record_count"] == 2 and first["model_version"] == answers[before[0]]["model_version"]
    assert datetime.fromisoformat(first["created_at"]).utcoffset().total_seconds() == 0 and first["latency_ms"] > 0
    later = [line["request_id"] for line in export(database_url, "--since", between.isoformat())]
    assert set(after) <= set(later) and not set(before) & set(later)
