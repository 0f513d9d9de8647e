"""Training (model_app/train.py, dataset.py): reproducible, good enough, fully described by its metadata."""

import hashlib
import json
import shutil
from importlib import metadata as package_metadata

import numpy as np
import pytest

from model_app.artifact import load_verified
from model_app.dataset import EVALUATION_FRACTION, load_split
from model_app.features import CLASS_NAMES, FEATURE_NAMES
from model_app.predictor import Predictor
from model_app.train import MODEL_BASE_VERSION, RECORDED_LIBRARIES
from model_app.train import main as train_main


def file_sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_metadata(directory) -> dict:
    return json.loads((directory / "metadata.json").read_text())


def test_two_trainings_produce_byte_identical_artifacts(trained_models):
    first = file_sha256(trained_models.first / "model.onnx")
    second = file_sha256(trained_models.second / "model.onnx")
    assert first == second


def test_two_trainings_produce_identical_metrics_and_version(trained_models):
    first, second = read_metadata(trained_models.first), read_metadata(trained_models.second)
    assert first["metrics"] == second["metrics"]
    assert first["model_version"] == second["model_version"]
    assert first["training_data"] == second["training_data"]


def test_metrics_are_above_the_quality_floor(trained_models):
    metrics = trained_models.metadata["metrics"]
    assert metrics["accuracy"] >= 0.9
    assert metrics["roc_auc"] >= 0.97
    assert set(metrics) == {"accuracy", "f1", "precision", "recall", "roc_auc", "log_loss"}


def test_metrics_describe_the_exported_onnx_artifact_itself(trained_models):
    split = load_split()
    predictor = Predictor((trained_models.first / "model.onnx").read_bytes())
    labels, probabilities = predictor.predict(split.eval_features)
    accuracy = float(np.mean(labels == split.eval_labels))
    assert trained_models.metadata["metrics"]["accuracy"] == pytest.approx(accuracy, abs=1e-6)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_metadata_records_version_data_metrics_libraries_and_commit(trained_models):
    metadata = trained_models.metadata
    artifact_sha = file_sha256(trained_models.first / "model.onnx")

    assert metadata["model_version"] == f"{MODEL_BASE_VERSION}+{artifact_sha[:12]}"
    assert metadata["git_commit"] == trained_models.git_commit
    assert metadata["features"] == list(FEATURE_NAMES)
    assert metadata["classes"] == list(CLASS_NAMES)
    assert isinstance(metadata["metrics"], dict) and metadata["metrics"]
    for library in RECORDED_LIBRARIES:
        assert metadata["library_versions"][library] == package_metadata.version(library)
    assert "python" in metadata["library_versions"]


def test_metadata_artifact_sha256_and_size_match_the_file_bytes(trained_models):
    model_bytes = (trained_models.first / "model.onnx").read_bytes()
    artifact = trained_models.metadata["artifact"]
    assert artifact["sha256"] == hashlib.sha256(model_bytes).hexdigest()
    assert artifact["size_bytes"] == len(model_bytes)
    assert artifact["file"] == "model.onnx"
    assert artifact["format"] == "onnx"


def test_training_data_fingerprint_is_the_sha256_of_the_bundled_dataset(trained_models, dataset):
    # Computed independently here: float32 features then int64 labels, as documented in dataset.py.
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(dataset.data, dtype=np.float32).tobytes())
    digest.update(np.ascontiguousarray(dataset.labels, dtype=np.int64).tobytes())
    training_data = trained_models.metadata["training_data"]
    assert training_data["fingerprint_sha256"] == digest.hexdigest()
    assert training_data["train_rows"] + training_data["eval_rows"] == len(dataset.labels) == 569


def test_stamp_only_changes_git_commit_but_not_the_artifact(trained_models, tmp_path):
    directory = tmp_path / "stamped"
    shutil.copytree(trained_models.first, directory)
    model_bytes_before = (directory / "model.onnx").read_bytes()
    before = read_metadata(directory)

    assert train_main(["--out", str(directory), "--stamp-only", "--git-commit", "feedface"]) == 0

    after = read_metadata(directory)
    assert after["git_commit"] == "feedface" != before["git_commit"]
    assert (directory / "model.onnx").read_bytes() == model_bytes_before
    assert after["artifact"]["sha256"] == before["artifact"]["sha256"]
    assert {key: value for key, value in after.items() if key != "git_commit"} == \
        {key: value for key, value in before.items() if key != "git_commit"}
    assert load_verified(directory).metadata["git_commit"] == "feedface"


def test_evaluation_split_does_not_overlap_training_split():
    split = load_split()
    train_rows = {row.tobytes() for row in split.train_features}
    eval_rows = {row.tobytes() for row in split.eval_features}
    assert len(train_rows) == len(split.train_features)  # no duplicate rows hide an overlap
    assert train_rows.isdisjoint(eval_rows)
    assert len(train_rows) + len(eval_rows) == 569


def test_split_has_the_eval_fraction_balanced_classes_and_is_reproducible():
    first, second = load_split(), load_split()
    total = len(first.train_labels) + len(first.eval_labels)
    assert len(first.eval_labels) == pytest.approx(total * EVALUATION_FRACTION, abs=1)
    # The benign share is the same in both parts to within one row.
    assert first.eval_labels.mean() == pytest.approx(first.train_labels.mean(), abs=1 / len(first.eval_labels))
    np.testing.assert_array_equal(first.eval_features, second.eval_features)
    np.testing.assert_array_equal(first.train_labels, second.train_labels)
    assert first.train_features.dtype == np.float32 and first.train_features.shape[1] == len(FEATURE_NAMES)
