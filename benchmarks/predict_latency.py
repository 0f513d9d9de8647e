"""In-process single-row predict latency of the served ONNX artifact, against scikit-learn on the same model.

    python -m benchmarks.predict_latency [--iterations N]
"""

import argparse
import tempfile
import time
from pathlib import Path

from benchmarks.common import latency_summary_us, save_result


def time_calls(function, argument, iterations: int) -> list[float]:
    samples = []
    for _ in range(iterations):
        started = time.perf_counter()
        function(argument)
        samples.append(time.perf_counter() - started)
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=5000)
    args = parser.parse_args(argv)

    from sklearn.ensemble import RandomForestClassifier

    from model_app.artifact import load_verified
    from model_app.dataset import load_split
    from model_app.predictor import Predictor
    from model_app.train import HYPERPARAMETERS, train

    with tempfile.TemporaryDirectory() as scratch:
        train(Path(scratch), git_commit="benchmark")
        predictor = Predictor(load_verified(Path(scratch)).model_bytes)
    split = load_split()
    row = split.eval_features[:1]
    peer = RandomForestClassifier(**HYPERPARAMETERS).fit(split.train_features, split.train_labels)

    time_calls(predictor.predict, row, 200)  # warm-up
    ours = latency_summary_us(time_calls(predictor.predict, row, args.iterations))
    peer_iterations = max(20, args.iterations // 50)
    sklearn = latency_summary_us(time_calls(peer.predict_proba, row, peer_iterations))
    ratio = sklearn["median_us"] / ours["median_us"]
    print(f"onnxruntime single-row predict: median {ours['median_us']:.1f} µs, p99 {ours['p99_us']:.1f} µs "
          f"({ours['count']} calls)")
    print(f"scikit-learn predict_proba (peer): median {sklearn['median_us']:.1f} µs ({sklearn['count']} calls)")
    print(f"ratio: ours is {ratio:.0f}x faster than scikit-learn in-process")
    path = save_result("predict_latency", {"onnxruntime": ours, "scikit_learn": sklearn, "speedup": round(ratio, 1)})
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
