"""The training data: scikit-learn's bundled breast-cancer set, split reproducibly."""

import hashlib
from dataclasses import dataclass

import numpy as np

from model_app.features import DATASET_FEATURE_NAMES

EVALUATION_FRACTION = 0.2
SPLIT_SEED = 42


@dataclass(frozen=True)
class Split:
    train_features: np.ndarray
    train_labels: np.ndarray
    eval_features: np.ndarray
    eval_labels: np.ndarray
    fingerprint: str


def fingerprint(features: np.ndarray, labels: np.ndarray) -> str:
    """sha256 over the exact bytes the model is trained and evaluated on."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(features, dtype=np.float32).tobytes())
    digest.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    return digest.hexdigest()


def load_split() -> Split:
    """Load the bundled data (nothing is downloaded) and hold out a stratified evaluation split."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    bunch = load_breast_cancer()
    if tuple(bunch.feature_names) != DATASET_FEATURE_NAMES:
        raise RuntimeError("the bundled dataset's feature names changed; update model_app.features")
    features = bunch.data.astype(np.float32)
    labels = bunch.target.astype(np.int64)
    train_x, eval_x, train_y, eval_y = train_test_split(
        features, labels, test_size=EVALUATION_FRACTION, random_state=SPLIT_SEED, stratify=labels,
    )
    return Split(train_x, train_y, eval_x, eval_y, fingerprint(features, labels))


def example_request(rows: int = 1) -> dict:
    """A valid /predict body built from held-out rows: for probes, load generators and smoke checks."""
    from model_app.features import FEATURE_NAMES

    features = load_split().eval_features[:rows]
    return {"records": [{name: float(value) for name, value in zip(FEATURE_NAMES, row)} for row in features]}
