"""Wall time of the pipeline's stages, cold and after a code-only change, against a naive Dockerfile's rebuild.

    python -m benchmarks.pipeline [--stages lint,unit,build,integration,acceptance] [--skip-cold]

Runs the real `python -m ci` commands in a scratch copy of the repository (the work tree is untouched).
"Cold" builds on a fresh copy of the base image (a new image id, so no cached layer can be reused);
"warm" is the same pipeline after a one-line change to the service code. The peer is
benchmarks/naive.Dockerfile (code copied before dependencies) rebuilding after that same change.
"""

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker

from benchmarks.common import save_result
from ci.base_image import resolve_base
from ci.build_trust import TRUST_DIR, trust_files
from ci.config import ImageConfig
from ci.executor import docker_engine
from ci.executor.files import sync_directory
from ci.workspace import copy_workspace

STAGES = {
    "lint": ("lint",),
    "unit": ("test", "unit"),
    "build": ("build",),
    "integration": ("test", "integration"),
    "acceptance": ("test", "acceptance"),
}
NAIVE_REPOSITORY = "ml-model-service-naive"


def change_service_code(copy: Path) -> None:
    with (copy / "model_app" / "app.py").open("a") as source:
        source.write(f"\n# benchmark change {time.time()}\n")


def run_stages(copy: Path, stages: list[str], environ: dict) -> dict[str, float]:
    timings = {}
    for stage in stages:
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "ci", *STAGES[stage]], cwd=copy, env=environ,
                                capture_output=True, text=True, timeout=1800)
        timings[stage] = round(time.perf_counter() - started, 1)
        if result.returncode != 0:
            raise SystemExit(f"stage {stage} failed (exit {result.returncode}):\n{result.stderr[-2000:]}")
        print(f"  {stage:<12}{timings[stage]:>7.1f} s", flush=True)
    timings["total"] = round(sum(timings.values()), 1)
    return timings


def fresh_base(client, base: str) -> str:
    """The same base under a new image id: every layer built on it is a cache miss (a truly cold build)."""
    tag = f"ml-model-service-bench-base:{int(time.time())}"
    client.images.build(fileobj=io.BytesIO(f"FROM {base}\nLABEL io.mlci.bench-cold={time.time()}\n".encode()),
                        tag=tag, rm=True)
    return tag


def naive_rebuild_seconds(client, copy: Path, base: str) -> float:
    """Build the naive Dockerfile, change the code the same way, and time the rebuild."""
    def build(tag: str) -> float:
        started = time.perf_counter()
        client.images.build(path=str(copy), dockerfile="benchmarks/naive.Dockerfile", tag=f"{NAIVE_REPOSITORY}:{tag}",
                            buildargs={"BASE_IMAGE": base}, rm=True, forcerm=True)
        return time.perf_counter() - started

    naive_dockerignore = copy / ".dockerignore"
    naive_dockerignore.write_text("reports/\nbuild/\n**/__pycache__\n")
    build("before")
    change_service_code(copy)
    return round(build("after"), 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", default=",".join(STAGES), help="comma-separated subset, in pipeline order")
    parser.add_argument("--skip-cold", action="store_true", help="only the warm run after a code-only change")
    parser.add_argument("--skip-naive", action="store_true", help="do not build the naive baseline")
    args = parser.parse_args(argv)
    stages = [stage for stage in STAGES if stage in args.stages.split(",")]
    client = docker_engine.connect()
    base = resolve_base(client, ImageConfig()).reference
    figures: dict = {"stages": stages, "base_image": base}
    cold_base = ""
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as scratch:
        copy = Path(scratch)
        copy_workspace(copy)
        sync_directory(copy / TRUST_DIR, trust_files(), keep=("README.md",))
        environ = {key: value for key, value in os.environ.items() if not key.startswith("MLCI_")}
        try:
            if not args.skip_cold:
                cold_base = fresh_base(client, base)
                print("cold pipeline (no cached layer):")
                figures["cold"] = run_stages(copy, stages, {**environ, "MLCI_IMAGE_BASE": cold_base})
            else:
                run_stages(copy, [stage for stage in stages if stage in ("unit", "build")], environ)
            change_service_code(copy)
            print("warm pipeline (after a code-only change):")
            figures["warm"] = run_stages(copy, stages, {**environ, "MLCI_IMAGE_BASE": cold_base or base})
            if not args.skip_naive:
                naive = naive_rebuild_seconds(client, copy, base)
                ours = figures["warm"].get("build")
                figures["naive_rebuild_after_code_change_seconds"] = naive
                print(f"naive Dockerfile rebuild after the same change: {naive:.1f} s")
                if ours:
                    figures["naive_over_ours_build"] = round(naive / ours, 1)
                    print(f"ratio: our build stage is {naive / ours:.0f}x faster on a code-only change")
        finally:
            for reference in (cold_base, f"{NAIVE_REPOSITORY}:before", f"{NAIVE_REPOSITORY}:after"):
                if reference:
                    try:
                        client.images.remove(reference)
                    except docker.errors.APIError:
                        pass  # in use by a newer build, or never built
    print(f"results: {save_result('pipeline', figures)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
