"""Shared pieces of the benchmarks: where results go and how latencies are summarized."""

import json
import platform
import statistics
from datetime import datetime, timezone
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPOSITORY_ROOT / "reports" / "benchmarks"


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def latency_summary_us(samples_seconds: list[float]) -> dict:
    micros = [sample * 1e6 for sample in samples_seconds]
    return {
        "count": len(micros),
        "median_us": round(statistics.median(micros), 2),
        "p99_us": round(percentile(micros, 0.99), 2),
        "mean_us": round(statistics.fmean(micros), 2),
    }


def save_result(name: str, figures: dict) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    record = {
        "benchmark": name,
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": _cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        **figures,
    }
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0))
