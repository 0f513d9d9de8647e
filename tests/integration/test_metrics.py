"""/metrics follows the traffic: request counts by status, the latency histogram, predictions by class."""

import re

import requests


def sample(metrics_text: str, name: str, **labels) -> float:
    """The value of one Prometheus sample, 0 when the series does not exist yet."""
    for line in metrics_text.splitlines():
        match = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(3) or ""))
        if all(found.get(key) == value for key, value in labels.items()):
            return float(match.group(4))
    return 0.0


def scrape(model_url: str) -> str:
    response = requests.get(f"{model_url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def test_counters_and_histogram_move_with_requests(model_url, eval_records, eval_labels):
    before = scrape(model_url)
    malignant = [record for record, label in zip(eval_records, eval_labels) if label == 0][:3]
    benign = [record for record, label in zip(eval_records, eval_labels) if label == 1][:4]
    response = requests.post(f"{model_url}/predict", json={"records": malignant + benign}, timeout=10)
    labels = [item["label"] for item in response.json()["predictions"]]
    requests.post(f"{model_url}/predict", json={"records": []}, timeout=10)
    requests.post(f"{model_url}/predict", json={"records": []}, timeout=10)
    after = scrape(model_url)

    def delta(name, **labels_):
        return sample(after, name, **labels_) - sample(before, name, **labels_)

    assert delta("http_requests_total", method="POST", path="/predict", status="200") == 1
    assert delta("http_requests_total", method="POST", path="/predict", status="422") == 2
    assert delta("http_request_duration_seconds_count", path="/predict") == 3
    assert delta("model_predictions_total", class_name="malignant") == labels.count("malignant")
    assert delta("model_predictions_total", class_name="benign") == labels.count("benign")
    assert labels.count("malignant") >= 2 and labels.count("benign") >= 3


def test_model_gauges_say_what_is_served(model_url):
    text = scrape(model_url)
    version = requests.get(f"{model_url}/metadata", timeout=10).json()["model_version"]
    assert sample(text, "model_ready") == 1
    assert sample(text, "model_info", model_version=version) == 1


def test_unknown_paths_do_not_create_new_series(model_url):
    for index in range(5):
        requests.get(f"{model_url}/probe-{index}", timeout=10)
    text = scrape(model_url)
    assert "probe-" not in text
    assert sample(text, "http_requests_total", method="GET", path="other", status="404") >= 5
