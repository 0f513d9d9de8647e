"""Save the benchmark's pickled scikit-learn model as an MLflow model (sklearn flavour); runs in MLflow's venv."""

import argparse
import json
import pickle
from pathlib import Path

import mlflow.sklearn
import numpy as np
import pandas as pd
import sklearn
from mlflow.models import infer_signature


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-pickle", type=Path, required=True)
    parser.add_argument("--schema", type=Path, required=True, help="JSON with the feature and class names")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    model = pickle.loads(args.model_pickle.read_bytes())  # written by this benchmark moments ago
    features = json.loads(args.schema.read_text())["features"]
    # Named float32 columns, as the model was trained: MLflow validates each request against this signature.
    example = pd.DataFrame(np.zeros((1, len(features)), dtype=np.float32), columns=features)
    signature = infer_signature(example, model.predict_proba(example.to_numpy()))
    mlflow.sklearn.save_model(
        model, str(args.out), signature=signature,
        # Probabilities, as our service answers; the same forest work as predict().
        pyfunc_predict_fn="predict_proba",
        # Stated, not inferred: inference imports the model in a subprocess and is slow.
        pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
        # MLflow 3's default format, skops, refuses a forest's node storage unless told it is trusted;
        # we trained this model moments ago.
        skops_trusted_types=["sklearn.tree._tree.Tree"],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
