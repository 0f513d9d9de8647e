"""The acceptance tier is black-box: only HTTP, against MODEL_URL (the compose stack by default, or any
running release with `ci test acceptance --base-url`). Its release gates are written to
reports/acceptance/gates.json for the release manager, whether they pass or not.
"""

import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests

from model_app.dataset import load_split
from model_app.features import FEATURE_NAMES

GATES_REPORT = Path("reports/acceptance/gates.json")
GATE_KEYS = ("min_accuracy", "min_roc_auc", "min_f1", "max_drop_vs_serving", "latency_p95_ms", "latency_requests")


@pytest.fixture(scope="session")
def base_url() -> str:
    url = os.environ.get("MODEL_URL", "").rstrip("/")
    if not url:
        pytest.fail("MODEL_URL is not set: run this tier through `python -m ci test acceptance`", pytrace=False)
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(f"{url}/ready", timeout=5).status_code == 200:
                return url
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"no ready model service at {url}", pytrace=False)
        time.sleep(0.5)


@pytest.fixture(scope="session")
def gates() -> dict:
    raw = os.environ.get("ACCEPTANCE_GATES", "")
    try:
        configured = json.loads(raw)
    except ValueError:
        pytest.fail("ACCEPTANCE_GATES must hold the [gates] settings as JSON (set by `python -m ci test`)",
                    pytrace=False)
    missing = [key for key in GATE_KEYS if key not in configured]
    if missing:
        pytest.fail(f"ACCEPTANCE_GATES lacks {', '.join(missing)}", pytrace=False)
    return configured


@pytest.fixture(scope="session")
def baseline_url() -> str:
    return os.environ.get("BASELINE_URL", "").rstrip("/")


@pytest.fixture(scope="session")
def eval_set() -> tuple[list[dict], list[int]]:
    split = load_split()
    records = [{name: float(value) for name, value in zip(FEATURE_NAMES, row)} for row in split.eval_features]
    return records, [int(label) for label in split.eval_labels]


class GateRecorder:
    def __init__(self) -> None:
        self.gates: dict[str, dict] = {}

    def record(self, name: str, passed: bool, **details) -> None:
        self.gates[name] = {"passed": passed, **details}


@pytest.fixture(scope="session")
def gate_recorder(base_url, gates, baseline_url):
    recorder = GateRecorder()
    yield recorder
    candidate = requests.get(f"{base_url}/metadata", timeout=10).json()
    GATES_REPORT.parent.mkdir(parents=True, exist_ok=True)
    GATES_REPORT.write_text(json.dumps({
        "evaluated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "candidate": {"url": base_url, "model_version": candidate.get("model_version"),
                      "recorded_metrics": candidate.get("metrics")},
        "baseline_url": baseline_url or None,
        "thresholds": gates,
        "gates": recorder.gates,
        "passed": bool(recorder.gates) and all(gate["passed"] for gate in recorder.gates.values()),
    }, indent=2, sort_keys=True) + "\n")
