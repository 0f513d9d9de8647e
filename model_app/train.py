"""Train the classifier reproducibly, export it to ONNX and write its metadata: python -m model_app.train."""

import argparse
import json
import platform
import subprocess
import sys
from importlib import metadata as package_metadata
from pathlib import Path

import numpy as np

from model_app.artifact import ARTIFACT_FILE, sha256_of, stamp_git_commit, write_metadata
from model_app.dataset import EVALUATION_FRACTION, SPLIT_SEED, load_split
from model_app.features import CLASS_NAMES, FEATURE_NAMES

MODEL_NAME = "breast-cancer-rf"
# Bump when the training recipe changes meaningfully; the artifact hash is appended to it.
MODEL_BASE_VERSION = "1.0.0"
HYPERPARAMETERS = {"n_estimators": 100, "max_depth": None, "random_state": 42, "n_jobs": 1}
ONNX_OPSET = 17
RECORDED_LIBRARIES = ("scikit-learn", "skl2onnx", "onnx", "onnxruntime", "numpy")


def library_versions() -> dict:
    versions = {"python": platform.python_version()}
    for name in RECORDED_LIBRARIES:
        versions[name] = package_metadata.version(name)
    return versions


def current_git_commit() -> str:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip()


def evaluate(labels: np.ndarray, predicted: np.ndarray, positive_probability: np.ndarray) -> dict:
    from sklearn.metrics import accuracy_score, f1_score, log_loss, precision_score, recall_score, roc_auc_score

    return {
        "accuracy": round(float(accuracy_score(labels, predicted)), 6),
        "f1": round(float(f1_score(labels, predicted)), 6),
        "precision": round(float(precision_score(labels, predicted)), 6),
        "recall": round(float(recall_score(labels, predicted)), 6),
        "roc_auc": round(float(roc_auc_score(labels, positive_probability)), 6),
        "log_loss": round(float(log_loss(labels, positive_probability)), 6),
    }


def export_onnx(model, sample: np.ndarray) -> bytes:
    from skl2onnx import to_onnx

    # zipmap off: probabilities come back as one float tensor, cheap to serve.
    onnx_model = to_onnx(model, sample, options={id(model): {"zipmap": False}}, target_opset=ONNX_OPSET)
    return onnx_model.SerializeToString()


def train(output_dir: Path, git_commit: str) -> dict:
    """Fit, export, evaluate the exported artifact itself on the held-out split, and write both files."""
    import onnxruntime
    from sklearn.ensemble import RandomForestClassifier

    split = load_split()
    model = RandomForestClassifier(**HYPERPARAMETERS).fit(split.train_features, split.train_labels)
    model_bytes = export_onnx(model, split.train_features[:1])

    # Metrics come from the ONNX artifact, the thing that is served, not from the in-memory model.
    session = onnxruntime.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    predicted, probabilities = session.run(None, {session.get_inputs()[0].name: split.eval_features})
    metrics = evaluate(split.eval_labels, predicted, probabilities[:, 1])

    artifact_sha = sha256_of(model_bytes)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / ARTIFACT_FILE).write_bytes(model_bytes)
    metadata = {
        "model_name": MODEL_NAME,
        "model_version": f"{MODEL_BASE_VERSION}+{artifact_sha[:12]}",
        "algorithm": type(model).__name__,
        "hyperparameters": HYPERPARAMETERS,
        "features": list(FEATURE_NAMES),
        "classes": list(CLASS_NAMES),
        "training_data": {
            "source": "sklearn.datasets.load_breast_cancer (bundled with scikit-learn)",
            "fingerprint_sha256": split.fingerprint,
            "train_rows": int(len(split.train_labels)),
            "eval_rows": int(len(split.eval_labels)),
            "eval_fraction": EVALUATION_FRACTION,
            "split_seed": SPLIT_SEED,
        },
        "metrics": metrics,
        "library_versions": library_versions(),
        "git_commit": git_commit,
        "artifact": {
            "file": ARTIFACT_FILE,
            "format": "onnx",
            "onnx_opset": ONNX_OPSET,
            "sha256": artifact_sha,
            "size_bytes": len(model_bytes),
        },
    }
    write_metadata(output_dir, metadata)
    return metadata


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model_app.train", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("build/model"), help="output directory")
    parser.add_argument("--git-commit", help="commit to record (default: git rev-parse HEAD)")
    parser.add_argument(
        "--stamp-only", action="store_true",
        help="only record --git-commit in an existing artifact's metadata (no retraining)",
    )
    args = parser.parse_args(argv)
    if args.stamp_only:
        stamp_git_commit(args.out, args.git_commit or current_git_commit())
        return 0
    metadata = train(args.out, args.git_commit or current_git_commit())
    summary = {"model_version": metadata["model_version"], **metadata["metrics"]}
    print(f"trained {metadata['model_name']} into {args.out}: {json.dumps(summary)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
