"""Save the benchmark's pickled scikit-learn model into $BENTOML_HOME's store (sklearn flavour) in BentoML's venv."""

import argparse
import pickle
from pathlib import Path

import bentoml


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-pickle", type=Path, required=True)
    parser.add_argument("--name", required=True, help="model name in the store")
    args = parser.parse_args()
    model = pickle.loads(args.model_pickle.read_bytes())  # written by this benchmark moments ago
    saved = bentoml.sklearn.save_model(args.name, model)
    print(saved.tag)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
