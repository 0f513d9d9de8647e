"""Smoke test of the serving benchmark: our service alone, briefly, through the real command, wrk and server."""

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.serving_load import find_wrk

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
RESULT_FILE = REPOSITORY_ROOT / "reports" / "benchmarks" / "serving.json"
COMMAND = [sys.executable, "-m", "benchmarks.serving", "--peers", "none", "--duration", "1", "--concurrency", "1,4"]


def test_serving_benchmark_measures_our_service():
    if find_wrk() is None:  # a missing load generator is a broken setup, not a reason to skip
        pytest.fail("wrk is not installed; the project's setup installs it (Debian package wrk)", pytrace=False)
    started = time.time()
    completed = subprocess.run(COMMAND, cwd=REPOSITORY_ROOT, capture_output=True, text=True, timeout=120)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    assert re.search(r"^\[ours\] c=4: \d+(\.\d+)? req/s", completed.stdout, re.MULTILINE), output

    assert RESULT_FILE.stat().st_mtime >= started, "serving.json was not written by this run"
    result = json.loads(RESULT_FILE.read_text())
    ours = result["servers"]["ours"]
    assert ours["available"], ours.get("reason")
    assert set(ours["loads"]) == {"1", "4"}
    for concurrency, figures in ours["loads"].items():
        assert figures["requests"] > 0, concurrency
        assert figures["requests_per_s"] > 0, concurrency
        assert figures["non_2xx"] == 0, figures
        assert figures["socket_errors"] == 0, figures
    assert ours["stray_processes"] == []
