"""Release gates: model quality (absolute, and against the serving model) and single-record latency."""

import statistics
import time

import requests
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

GATED_METRICS = ("accuracy", "roc_auc", "f1")
BATCH = 50
WARM_UP_REQUESTS = 30


def measured_metrics(base_url: str, records: list[dict], labels: list[int]) -> dict:
    predicted, benign_probability = [], []
    classes = requests.get(f"{base_url}/metadata", timeout=10).json()["classes"]
    with requests.Session() as session:
        for start in range(0, len(records), BATCH):
            response = session.post(f"{base_url}/predict", json={"records": records[start:start + BATCH]}, timeout=30)
            response.raise_for_status()
            for item in response.json()["predictions"]:
                predicted.append(classes.index(item["label"]))
                benign_probability.append(item["probabilities"][classes[1]])
    return {
        "accuracy": round(accuracy_score(labels, predicted), 6),
        "roc_auc": round(roc_auc_score(labels, benign_probability), 6),
        "f1": round(f1_score(labels, predicted), 6),
    }


def test_model_quality_gate(base_url, baseline_url, gates, eval_set, gate_recorder):
    records, labels = eval_set
    metrics = measured_metrics(base_url, records, labels)
    failures = [f"{name} {metrics[name]} < {gates['min_' + name]}"
                for name in GATED_METRICS if metrics[name] < gates["min_" + name]]
    serving = None
    if baseline_url:
        serving = requests.get(f"{baseline_url}/metadata", timeout=10).json()["metrics"]
        tolerance = gates["max_drop_vs_serving"]
        failures += [f"{name} {metrics[name]} is more than {tolerance} below the serving model's {serving[name]}"
                     for name in GATED_METRICS if metrics[name] < serving[name] - tolerance]
    gate_recorder.record("model_quality", not failures, measured=metrics, serving=serving,
                         evaluated_records=len(records), failures=failures)
    assert not failures, "; ".join(failures)


def test_latency_gate(base_url, gates, eval_set, gate_recorder):
    records, _ = eval_set
    samples, errors = [], 0
    with requests.Session() as session:
        for index in range(WARM_UP_REQUESTS):
            session.post(f"{base_url}/predict", json={"records": [records[index % len(records)]]}, timeout=10)
        for index in range(gates["latency_requests"]):
            started = time.perf_counter()
            response = session.post(f"{base_url}/predict", json={"records": [records[index % len(records)]]},
                                    timeout=10)
            samples.append((time.perf_counter() - started) * 1000)
            errors += response.status_code != 200
    quantiles = statistics.quantiles(samples, n=100, method="inclusive")
    p95 = round(quantiles[94], 3)
    passed = p95 <= gates["latency_p95_ms"] and errors == 0
    gate_recorder.record("latency", passed, p50_ms=round(quantiles[49], 3), p95_ms=p95,
                         p99_ms=round(quantiles[98], 3), requests=len(samples), errors=errors,
                         budget_p95_ms=gates["latency_p95_ms"])
    assert errors == 0, f"{errors} of {len(samples)} single-record requests failed"
    assert p95 <= gates["latency_p95_ms"], f"p95 {p95} ms is over the budget of {gates['latency_p95_ms']} ms"
