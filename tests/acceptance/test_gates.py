"""Release gates: model quality (absolute, and against the serving model) and single-record latency."""

import statistics
import time

import numpy
import requests
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, roc_auc_score, roc_curve

GATED_METRICS = ("accuracy", "roc_auc", "f1")
BATCH = 50
WARM_UP_REQUESTS = 30
# What the pipeline report draws: enough points for a smooth curve, few enough that gates.json stays small.
ROC_POINTS = 200
LATENCY_BINS = 30


def served_predictions(base_url: str, records: list[dict]) -> tuple[list[str], list[int], list[float]]:
    """The service's classes, and for each record the predicted class index and the second class's probability."""
    predicted, benign_probability = [], []
    classes = requests.get(f"{base_url}/metadata", timeout=10).json()["classes"]
    with requests.Session() as session:
        for start in range(0, len(records), BATCH):
            response = session.post(f"{base_url}/predict", json={"records": records[start:start + BATCH]}, timeout=30)
            response.raise_for_status()
            for item in response.json()["predictions"]:
                predicted.append(classes.index(item["label"]))
                benign_probability.append(item["probabilities"][classes[1]])
    return classes, predicted, benign_probability


def quality_metrics(labels: list[int], predicted: list[int], probability: list[float]) -> dict:
    return {
        "accuracy": round(accuracy_score(labels, predicted), 6),
        "roc_auc": round(roc_auc_score(labels, probability), 6),
        "f1": round(f1_score(labels, predicted), 6),
    }


def thinned_roc_curve(labels: list[int], probability: list[float]) -> dict:
    fpr, tpr, _ = roc_curve(labels, probability)
    keep = numpy.unique(numpy.linspace(0, len(fpr) - 1, min(ROC_POINTS, len(fpr))).round().astype(int))
    return {"fpr": [round(float(value), 4) for value in fpr[keep]],
            "tpr": [round(float(value), 4) for value in tpr[keep]]}


def test_model_quality_gate(base_url, baseline_url, gates, eval_set, gate_recorder):
    records, labels = eval_set
    classes, predicted, probability = served_predictions(base_url, records)
    metrics = quality_metrics(labels, predicted, probability)
    failures = [f"{name} {metrics[name]} < {gates['min_' + name]}"
                for name in GATED_METRICS if metrics[name] < gates["min_" + name]]
    serving = None
    if baseline_url:
        serving = requests.get(f"{baseline_url}/metadata", timeout=10).json()["metrics"]
        tolerance = gates["max_drop_vs_serving"]
        failures += [f"{name} {metrics[name]} is more than {tolerance} below the serving model's {serving[name]}"
                     for name in GATED_METRICS if metrics[name] < serving[name] - tolerance]
    gate_recorder.record("model_quality", not failures, measured=metrics, serving=serving,
                         evaluated_records=len(records), failures=failures,
                         confusion_matrix=confusion_matrix(labels, predicted, labels=range(len(classes))).tolist(),
                         labels_order=classes, roc_curve=thinned_roc_curve(labels, probability))
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
    counts, edges = numpy.histogram(samples, bins=LATENCY_BINS)
    gate_recorder.record("latency", passed, p50_ms=round(quantiles[49], 3), p95_ms=p95,
                         p99_ms=round(quantiles[98], 3), requests=len(samples), errors=errors,
                         budget_p95_ms=gates["latency_p95_ms"],
                         histogram={"edges_ms": [round(float(edge), 3) for edge in edges],
                                    "counts": [int(count) for count in counts]})
    assert errors == 0, f"{errors} of {len(samples)} single-record requests failed"
    assert p95 <= gates["latency_p95_ms"], f"p95 {p95} ms is over the budget of {gates['latency_p95_ms']} ms"
