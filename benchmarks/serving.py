"""Serving benchmark: our service against MLflow and BentoML serving the same trained model, all loaded by wrk."""

import argparse
import json
import os
import pickle
import signal
import sqlite3
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from benchmarks.common import REPOSITORY_ROOT, latency_summary_us, save_result
from benchmarks.predict_latency import time_calls
from benchmarks.serving_load import (
    HttpCall, LoadError, find_wrk, run_wrk, wrk_command, wrk_threads, wrk_version, write_script,
)
from benchmarks.serving_peers import (
    PeerUnavailable, ensure_venv, export_for_bentoml, export_for_mlflow, installed_versions,
)
from benchmarks.serving_process import ServerProcess, ServerStartError, free_port, request_once, wait_for_first_answer
from benchmarks.serving_report import all_ratios, evaluate_targets, format_latency, render_report, stall_suspected
from benchmarks.serving_servers import (
    BENTOML_SERVICE_FILE, OUR_PACKAGES, PEERS, PROBABILITIES, ServerPlan, bentoml_plan, mlflow_plan, ours_plan,
    venv_bin,
)

VENV_CACHE = REPOSITORY_ROOT / "build" / "bench-venvs"
WARMUP_SECONDS = 2
STALL_PROBE_SECONDS = 1
FLOOR_ITERATIONS = 5000
SAME_MODEL_TOLERANCE = 1e-5
ANSWER_TOLERANCE = 1e-4
PREDICTION_LOG_SERIES = ("prediction_log_written_total", "prediction_log_dropped_total",
                         "prediction_log_write_failures_total", "prediction_log_queue_depth")


@dataclass(frozen=True)
class Settings:
    duration_s: float
    concurrencies: list[int]
    peers: list[str]
    wrk: str


@dataclass(frozen=True)
class ModelBundle:
    """The one trained model in every form the servers need, and the record every request carries."""

    model_dir: Path
    model_pickle: Path
    schema: Path
    classes: tuple[str, ...]
    record: dict[str, float]
    expected_probabilities: list[float]
    facts: dict


def say(message: str) -> None:
    print(message, flush=True)


# --- arguments -----------------------------------------------------------------------------------------------

def parse_concurrencies(text: str) -> list[int]:
    try:
        values = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--concurrency takes whole numbers separated by commas, got {text!r}") from None
    if not values or values[0] < 1:
        raise argparse.ArgumentTypeError(f"--concurrency values must be at least 1, got {text!r}")
    return values


def parse_peers(text: str) -> list[str]:
    if text.strip().lower() == "none":
        return []
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in PEERS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"--peers takes {','.join(PEERS)} or none, got {text!r}")
    return list(dict.fromkeys(names))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serving", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per concurrency (default 10)")
    parser.add_argument("--peers", type=parse_peers, default=list(PEERS), help="mlflow,bentoml (default) or none")
    parser.add_argument("--concurrency", type=parse_concurrencies, default=[1, 16], help="e.g. 1,16 (default)")
    args = parser.parse_args(argv)
    if args.duration < 1:
        parser.error("--duration must be at least 1 second (wrk's resolution)")
    return args


# --- the model -----------------------------------------------------------------------------------------------

def prepare_model(scratch: Path) -> ModelBundle:
    """Train ours (ONNX), refit the same forest for the peers, prove they agree, pick the record to send."""
    from model_app.dataset import load_split
    from model_app.features import CLASS_NAMES, FEATURE_NAMES
    from model_app.train import HYPERPARAMETERS, train

    model_dir = scratch / "model"
    training = train(model_dir, git_commit="benchmark")
    split = load_split()
    forest = refit_forest(split, HYPERPARAMETERS)
    difference = onnx_sklearn_difference(model_dir, forest, split.eval_features)
    index, record = least_certain_record(forest, split.eval_features, FEATURE_NAMES)
    expected = forest.predict_proba(np.array([list(record.values())], dtype=np.float32))[0].tolist()
    model_pickle = scratch / "forest.pkl"
    model_pickle.write_bytes(pickle.dumps(forest))
    schema = scratch / "schema.json"
    schema.write_text(json.dumps({"features": list(FEATURE_NAMES), "classes": list(CLASS_NAMES)}))
    facts = {
        "algorithm": type(forest).__name__, "hyperparameters": HYPERPARAMETERS,
        "onnx_artifact_sha256": training["artifact"]["sha256"], "model_version": training["model_version"],
        "same_model_max_abs_probability_difference": difference, "same_model": difference <= SAME_MODEL_TOLERANCE,
        "request_record_eval_index": index, "request_record": record, "request_record_expected_probabilities": expected,
    }
    return ModelBundle(model_dir, model_pickle, schema, tuple(CLASS_NAMES), record, expected, facts)


def refit_forest(split, hyperparameters: dict):
    """The fit train() does (fixed seed, one job), kept as a scikit-learn object: train() keeps only the ONNX."""
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(**hyperparameters).fit(split.train_features, split.train_labels)


def onnx_sklearn_difference(model_dir: Path, forest, features: np.ndarray) -> float:
    from model_app.artifact import load_verified
    from model_app.predictor import Predictor

    onnx_probabilities = Predictor(load_verified(model_dir).model_bytes).predict(features)[1]
    return float(np.max(np.abs(onnx_probabilities - forest.predict_proba(features))))


def least_certain_record(forest, features: np.ndarray, names: tuple[str, ...]) -> tuple[int, dict[str, float]]:
    """The held-out record nearest 50/50, so that comparing the servers' answers means something."""
    index = int(np.argmin(np.abs(forest.predict_proba(features)[:, 0] - 0.5)))
    # The shortest decimal that reads back as the same float32: what a client would send.
    return index, {name: float(str(value)) for name, value in zip(names, features[index])}


def in_process_floor(model: ModelBundle) -> dict:
    """benchmarks.predict_latency's measurement: onnxruntime, one row, same artifact, same record."""
    from model_app.artifact import load_verified
    from model_app.predictor import Predictor

    predictor = Predictor(load_verified(model.model_dir).model_bytes)
    row = np.array([list(model.record.values())], dtype=np.float32)
    time_calls(predictor.predict, row, 200)  # warm-up
    return latency_summary_us(time_calls(predictor.predict, row, FLOOR_ITERATIONS))


# --- one server ----------------------------------------------------------------------------------------------

@contextmanager
def interrupts_deferred():
    """Let a stop finish even if Ctrl-C is pressed again; the interrupt is raised once it has."""
    received = []
    previous = {signum: signal.signal(signum, lambda number, frame: received.append(number))
                for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if received:
            raise KeyboardInterrupt


def load(settings: Settings, url: str, script: Path, concurrency: int, seconds: float) -> dict:
    command = wrk_command(settings.wrk, url, script, concurrency, seconds)
    figures, _ = run_wrk(command, seconds)
    return {**figures, "threads": wrk_threads(concurrency), "wrk_command": command}


def answer_check(plan: ServerPlan, model: ModelBundle, body: bytes) -> dict:
    try:
        probabilities = PROBABILITIES[plan.name](json.loads(body), model.classes)
    except (ValueError, KeyError, IndexError, TypeError) as error:
        return {"agrees": False, "reason": f"unexpected answer {body[:200]!r}: {error}"}
    difference = max(abs(got - want) for got, want in zip(probabilities, model.expected_probabilities))
    return {"probabilities": probabilities, "max_abs_difference": difference,
            "agrees": difference <= ANSWER_TOLERANCE}


def prometheus_values(text: str, names: tuple[str, ...]) -> dict[str, float]:
    """Each named series' value, its labelled samples summed (prediction_log_dropped_total{reason=...})."""
    values = {}
    for line in text.splitlines():
        parts = line.split()
        name = parts[0].split("{", 1)[0] if len(parts) == 2 else ""
        if name in names:
            values[name] = values.get(name, 0.0) + float(parts[1])
    return values


def measure(settings: Settings, plan: ServerPlan, model: ModelBundle, scratch: Path) -> dict:
    """Start, wait for the first answer, warm up, probe for stalls, load at each concurrency; always stop."""
    server = ServerProcess(plan.name, plan.command, plan.env, plan.cwd, scratch / f"{plan.name}.log")
    # Other work on this machine skews every figure; the load average at the start says how much there was.
    load_average = os.getloadavg()
    result = {"available": True, "title": plan.title, "workers": plan.workers, "serving_notes": plan.notes,
              "command": plan.command, "port": plan.port, "load_average_at_start": load_average}
    say(f"[{plan.name}] starting {plan.title} (load average {load_average[0]:.2f})")
    try:
        server.start()
        cold_start, body = wait_for_first_answer(server, plan.port, plan.predict, plan.startup_timeout_s)
        result["cold_start_s"] = round(cold_start, 3)
        result["answer"] = answer_check(plan, model, body)
        say(f"[{plan.name}] answering after {cold_start:.2f} s (cold start); answer agrees with scikit-learn: "
            f"{result['answer']['agrees']}")
        result["stall_probe"] = stall_probe(settings, plan, scratch)
        result["loads"] = load_each_concurrency(settings, plan, server, scratch)
        if plan.prediction_log:
            result["prediction_log"] = prediction_log_figures(plan)
    finally:
        with interrupts_deferred():
            result["stray_processes"] = server.stop(plan.stop_grace_s)
        result["log_tail"] = server.log_tail(10)
    if plan.prediction_log:
        result["prediction_log"]["rows_after_shutdown"] = sqlite_rows(plan.prediction_log)
    return result


def load_each_concurrency(settings: Settings, plan: ServerPlan, server: ServerProcess, scratch: Path) -> dict:
    """A warm-up at the highest concurrency (every worker gets traffic), then one measured run per concurrency."""
    script = write_script(scratch, f"{plan.name}-predict", plan.predict)
    url = plan.base_url + plan.predict.path
    load(settings, url, script, max(settings.concurrencies), min(WARMUP_SECONDS, settings.duration_s))
    loads = {}
    for concurrency in settings.concurrencies:
        figures = load(settings, url, script, concurrency, settings.duration_s)
        # Sampled right after the load, while every worker still holds what serving it took.
        figures["processes"] = len(server.tree())
        figures["rss_mb"] = round(server.tree_rss_bytes() / 1e6, 1)
        loads[str(concurrency)] = figures
        say(f"[{plan.name}] c={concurrency}: {figures['requests_per_s']:.1f} req/s, "
            f"p50 {format_latency(figures['p50_ms'])}, p99 {format_latency(figures['p99_ms'])}, "
            f"non-2xx {figures['non_2xx']}, socket errors {figures['socket_errors']}, "
            f"RSS {figures['rss_mb']:.0f} MB ({figures['processes']} processes)")
    return loads


def stall_probe(settings: Settings, plan: ServerPlan, scratch: Path) -> dict:
    """The small-write/delayed-ACK stall shows as ~40 ms on a trivial answer; measure the health check at c1."""
    script = write_script(scratch, f"{plan.name}-health", plan.health)
    figures = load(settings, plan.base_url + plan.health.path, script, 1, STALL_PROBE_SECONDS)
    suspected = stall_suspected(figures["p50_ms"])
    say(f"[{plan.name}] stall probe, {plan.health.method} {plan.health.path} at c1: p50 "
        f"{format_latency(figures['p50_ms'])}, p99 {format_latency(figures['p99_ms'])} -> "
        f"{'STALL (delayed ACK) suspected' if suspected else 'no delayed-ACK stall'}")
    return {"path": plan.health.path, "p50_ms": figures["p50_ms"], "p99_ms": figures["p99_ms"],
            "requests": figures["requests"], "stall_suspected": suspected}


def prediction_log_figures(plan: ServerPlan) -> dict:
    answer = request_once(plan.port, HttpCall("GET", "/metrics"))
    if answer is None or answer[0] != 200:
        return {"error": "could not read /metrics"}
    return prometheus_values(answer[1].decode(), PREDICTION_LOG_SERIES)


def sqlite_rows(path: Path) -> int | None:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
            return connection.execute("SELECT COUNT(*) FROM predictions").fetchone()[0]
    except sqlite3.Error:
        return None


# --- the servers ---------------------------------------------------------------------------------------------

def our_versions() -> dict:
    versions = {"python": sys.version.split()[0]}
    for name in OUR_PACKAGES:
        versions[name] = metadata.version(name)
    return versions


def run_ours(settings: Settings, model: ModelBundle, scratch: Path) -> dict:
    plan = ours_plan(sys.executable, REPOSITORY_ROOT, dict(os.environ), model.model_dir,
                     scratch / "predictions.sqlite", free_port(), model.record)
    try:
        result = measure(settings, plan, model, scratch)
    except (ServerStartError, LoadError) as error:
        say(f"[ours] NOT MEASURED: {error}")
        return {"available": False, "title": plan.title, "reason": str(error)}
    result["versions"] = our_versions()
    return result


def peer_plan(name: str, venv: Path, model: ModelBundle, scratch: Path) -> ServerPlan:
    """Export the model into the peer's own format, then describe how the peer serves it."""
    base_env = dict(os.environ)
    log = scratch / f"{name}-export.log"
    if name == "mlflow":
        model_dir = scratch / "mlflow-model"
        export_for_mlflow(venv, base_env, model.model_pickle, model.schema, model_dir, log)
        return mlflow_plan(venv, base_env, model_dir, scratch, free_port(), model.record)
    home, service_dir = scratch / "bentoml-home", scratch / "bentoml-service"
    service_dir.mkdir()
    # Served from a copy, so that nothing BentoML writes next to its service lands in the repository.
    (service_dir / BENTOML_SERVICE_FILE.name).write_text(BENTOML_SERVICE_FILE.read_text())
    export_for_bentoml(venv, base_env, model.model_pickle, home, log)
    return bentoml_plan(venv, base_env, home, service_dir, model.schema, free_port(), model.record)


def run_peer(settings: Settings, name: str, model: ModelBundle, scratch: Path) -> dict:
    spec = PEERS[name]
    title = f"{spec.title} {spec.version}"
    sklearn_version = metadata.version("scikit-learn")
    try:
        venv = ensure_venv(spec, VENV_CACHE, sklearn_version, say)
        versions = installed_versions(venv_bin(venv, "python"), spec.reported_packages)
        plan = peer_plan(name, venv, model, scratch)
        result = measure(settings, plan, model, scratch)
    except (PeerUnavailable, ServerStartError, LoadError) as error:
        say(f"[{name}] NOT MEASURED: {error}")
        return {"available": False, "title": title, "version": spec.version, "pin_note": spec.pin_note,
                "reason": str(error)}
    return {**result, "version": spec.version, "pin_note": spec.pin_note, "versions": versions,
            "venv": str(venv)}


# --- the run -------------------------------------------------------------------------------------------------

def settings_record(settings: Settings) -> dict:
    return {
        "duration_s": settings.duration_s, "concurrencies": settings.concurrencies, "peers": settings.peers,
        "warmup_s": min(WARMUP_SECONDS, settings.duration_s), "load_generator": wrk_version(settings.wrk),
        "wrk_threads": {str(c): wrk_threads(c) for c in settings.concurrencies},
        "request": "one JSON record per request, in each server's own format",
        "requests_per_s": "2xx answers per second of wrk's run",
        "rss_mb": "sum of VmRSS over the server's process tree right after each load "
                  "(pages shared between processes count once per process)",
        "cold_start_s": "process start to the first 200 answer to a predict request",
    }


def run(settings: Settings, scratch: Path) -> int:
    say("training the model (ours: ONNX export; peers: the same forest, pickled) ...")
    model = prepare_model(scratch)
    if not model.facts["same_model"]:
        say(f"WARNING: the refit forest and the ONNX artifact differ by "
            f"{model.facts['same_model_max_abs_probability_difference']:.2e}")
    floor = in_process_floor(model)
    say(f"in-process predict floor: median {floor['median_us']:.1f} µs")
    results = {"ours": run_ours(settings, model, scratch)}
    for name in settings.peers:
        results[name] = run_peer(settings, name, model, scratch)
    ratios = all_ratios(results, settings.peers, floor["median_us"])
    targets = evaluate_targets(results, ratios, settings.peers)
    say("")
    say(render_report(settings.duration_s, results, floor, ratios, targets))
    path = save_result("serving", {
        "settings": settings_record(settings),
        "model": model.facts,
        "in_process_predict_floor": floor,
        "servers": results,
        "ratios": ratios,
        "targets": targets,
    })
    say(f"results: {path}")
    if not results["ours"].get("available"):
        say(f"our service could not be measured: {results['ours']['reason']}")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk = find_wrk()
    if wrk is None:
        say("wrk is not installed (Debian package `wrk`; the project's setup installs it)")
        return 3
    settings = Settings(args.duration, args.concurrency, args.peers, wrk)
    # A SIGTERM (a CI abort) unwinds like Ctrl-C, so every server started is stopped.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-serving-") as scratch:
            return run(settings, Path(scratch))
    except KeyboardInterrupt:
        say("interrupted: every server this benchmark started has been stopped")
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    raise SystemExit(main())
