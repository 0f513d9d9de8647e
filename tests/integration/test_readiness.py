"""Readiness is refused, and the service logs why, when the artifact is corrupt or missing."""

import json

import requests


def test_a_corrupted_artifact_is_refused_and_the_log_says_why(spawn_server, model_copy, eval_records):
    artifact = model_copy / "model.onnx"
    data = bytearray(artifact.read_bytes())
    data[len(data) // 2] ^= 0xFF
    artifact.write_bytes(bytes(data))
    server = spawn_server(model_copy, wait_for="/health")
    ready = requests.get(f"{server.url}/ready", timeout=10)
    assert ready.status_code == 503
    assert "sha256" in ready.json()["reason"]
    assert "model NOT ready" in server.log() and "sha256" in server.log()
    response = requests.post(f"{server.url}/predict", json={"records": eval_records[:1]}, timeout=10)
    assert response.status_code == 503


def test_a_missing_artifact_is_refused_and_the_log_says_why(spawn_server, model_copy):
    (model_copy / "model.onnx").unlink()
    server = spawn_server(model_copy, wait_for="/health")
    ready = requests.get(f"{server.url}/ready", timeout=10)
    assert ready.status_code == 503
    assert "model.onnx" in ready.json()["reason"]
    assert "model NOT ready" in server.log()


def test_metadata_pointing_at_another_artifact_is_refused(spawn_server, model_copy):
    metadata_path = model_copy / "metadata.json"
    metadata = json.loads(metadata_path.read_text())
    metadata["artifact"]["sha256"] = "0" * 64
    metadata_path.write_text(json.dumps(metadata))
    server = spawn_server(model_copy, wait_for="/health")
    assert requests.get(f"{server.url}/ready", timeout=10).status_code == 503
    assert requests.get(f"{server.url}/metadata", timeout=10).status_code == 503


def test_the_untouched_artifact_becomes_ready(spawn_server, model_copy):
    server = spawn_server(model_copy)
    assert requests.get(f"{server.url}/ready", timeout=10).json()["status"] == "ready"
