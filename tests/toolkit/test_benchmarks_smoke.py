"""Each benchmark starts, measures and reports (tiny sizes): benchmarks are not tests, but they must keep working.
The serving benchmark has its own smoke test (test_serving_benchmark.py)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ci.workspace import copy_workspace


@pytest.fixture
def workspace(tmp_path) -> Path:
    """Benchmarks write reports/benchmarks/ next to themselves: run them in a copy."""
    return copy_workspace(tmp_path / "repo", with_build_report=True)


def run_benchmark(workspace: Path, module: str, *args: str, timeout: float = 600) -> tuple[str, dict]:
    result = subprocess.run([sys.executable, "-m", module, *args], cwd=workspace, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    name = module.rsplit(".", 1)[1]
    return result.stdout, json.loads((workspace / "reports" / "benchmarks" / f"{name}.json").read_text())


def test_predict_latency_reports_ours_and_the_peer(workspace):
    output, figures = run_benchmark(workspace, "benchmarks.predict_latency", "--iterations", "50")
    assert "ratio:" in output
    assert figures["onnxruntime"]["count"] == 50 and figures["speedup"] > 1


def test_image_build_reports_size_and_code_only_rebuild(workspace):
    output, figures = run_benchmark(workspace, "benchmarks.image_build", "--skip-cold")
    assert figures["image_size_mb"] > 50 and figures["code_only_rebuild_seconds"] > 0
    assert "code-only rebuild" in output


def test_pipeline_reports_per_stage_times(workspace):
    output, figures = run_benchmark(workspace, "benchmarks.pipeline", "--stages", "lint", "--skip-cold",
                                    "--skip-naive")
    assert figures["warm"]["lint"] > 0 and "warm pipeline" in output


def test_deploy_reports_times_and_failed_requests(workspace):
    output, figures = run_benchmark(workspace, "benchmarks.deploy", "--load-clients", "2", timeout=900)
    assert figures["failed_requests"] == 0 and figures["load_requests"] > 0
    assert figures["rollback_seconds"] > 0 and figures["rollback_after_grace_seconds"] > 0 and "rollback:" in output
