"""Smoke checks: the first thing run against a fresh release (`ci test acceptance -- -m smoke`)."""

import pytest
import requests

pytestmark = pytest.mark.smoke


def test_the_release_is_alive_ready_and_describes_itself(base_url):
    assert requests.get(f"{base_url}/health", timeout=10).status_code == 200
    ready = requests.get(f"{base_url}/ready", timeout=10).json()
    metadata = requests.get(f"{base_url}/metadata", timeout=10).json()
    assert ready["model_version"] == metadata["model_version"]
    assert len(metadata["artifact"]["sha256"]) == 64


def test_the_release_predicts(base_url, eval_set):
    records, labels = eval_set
    response = requests.post(f"{base_url}/predict", json={"records": records[:10]}, timeout=10)
    assert response.status_code == 200
    classes = requests.get(f"{base_url}/metadata", timeout=10).json()["classes"]
    predicted = [classes.index(item["label"]) for item in response.json()["predictions"]]
    assert sum(p == t for p, t in zip(predicted, labels[:10])) >= 8


def test_bad_input_is_refused_not_crashing(base_url):
    response = requests.post(f"{base_url}/predict", json={"records": []}, timeout=10)
    assert response.status_code == 422
    assert requests.get(f"{base_url}/health", timeout=10).status_code == 200
