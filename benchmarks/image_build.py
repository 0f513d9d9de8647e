"""Image size, cold build time and code-only rebuild time of the model image.

    python -m benchmarks.image_build

Builds a copy of the build context in a scratch directory (the work tree is never touched): once with
no cache (cold), once more to warm the cache, then again after a one-line change to the service code.
The ratio is cold / code-only: what the layer ordering saves.
"""

import argparse
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

BENCH_REPOSITORY = "ml-model-service-bench"


def copy_context(destination: Path) -> None:
    copy_workspace(destination)
    sync_directory(destination / TRUST_DIR, trust_files(), keep=("README.md",))


def timed_build(client, context: Path, base: str, tag: str, nocache: bool = False) -> float:
    started = time.perf_counter()
    if nocache:
        client.images.build(path=str(context), tag=f"{BENCH_REPOSITORY}:{tag}", nocache=True, rm=True,
                            forcerm=True, target="runtime", buildargs={"BASE_IMAGE": base, "GIT_COMMIT": "bench"})
    else:
        docker_engine.build_image(client, context=context, dockerfile="Dockerfile", tag=f"{BENCH_REPOSITORY}:{tag}",
                                  buildargs={"BASE_IMAGE": base, "GIT_COMMIT": "bench"}, labels={},
                                  on_progress=lambda line: None, target="runtime")
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-cold", action="store_true", help="measure the code-only rebuild only (quick)")
    args = parser.parse_args(argv)
    client = docker_engine.connect()
    base = resolve_base(client, ImageConfig()).reference
    figures = {"base_image": base}
    with tempfile.TemporaryDirectory(prefix="bench-context-") as scratch:
        context = Path(scratch)
        copy_context(context)
        try:
            if not args.skip_cold:
                figures["cold_build_seconds"] = round(timed_build(client, context, base, "cold", nocache=True), 1)
                print(f"cold build (no cache): {figures['cold_build_seconds']:.1f} s")
            timed_build(client, context, base, "warm")
            with (context / "model_app" / "app.py").open("a") as source:
                source.write(f"\n# benchmark change {time.time()}\n")
            figures["code_only_rebuild_seconds"] = round(timed_build(client, context, base, "changed"), 2)
            print(f"code-only rebuild: {figures['code_only_rebuild_seconds']:.2f} s")
            size = docker_engine.image_size_bytes(client, f"{BENCH_REPOSITORY}:changed")
            figures["image_size_mb"] = round(size / 1e6)
            print(f"image size: {figures['image_size_mb']} MB")
            if "cold_build_seconds" in figures:
                ratio = figures["cold_build_seconds"] / figures["code_only_rebuild_seconds"]
                figures["cold_over_code_only"] = round(ratio, 1)
                print(f"ratio: a code-only rebuild is {ratio:.0f}x faster than a cold build")
        finally:
            for tag in ("cold", "warm", "changed"):
                try:
                    client.images.remove(f"{BENCH_REPOSITORY}:{tag}")
                except docker.errors.ImageNotFound:
                    pass
    print(f"results: {save_result('image_build', figures)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
