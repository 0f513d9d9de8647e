"""Deploy time, failed requests during a cutover under constant load, and rollback time, on a real target host.

    python -m benchmarks.deploy [--load-clients 8]

Starts a local target host (sshd + its own engine, reached only over SSH), deploys the built image (first
deploy: image streamed over SSH), upgrades to a new image under constant keep-alive load, rolls back within the
grace period (the previous release still running: a proxy switch), upgrades again, stops the previous release
as the end of the grace period would, rolls back again (the retained container started first), and removes the
host. Runs the real `python -m ci deploy|rollback` in a scratch copy of the repository. Each rollback is timed
twice: the whole command (a new process, SSH connection, lock, audit record) and until traffic had switched.
"""

import argparse
import io
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from benchmarks.common import REPOSITORY_ROOT, save_result
from ci.config import CONFIG_FILE_VARIABLE
from ci.context import Context
from ci.executor import docker_engine, process
from ci.executor.target_host import start_local_environment, stop_local_environment
from ci.image_builder import build_images, plan_with_base
from ci.workspace import copy_workspace
from model_app.dataset import example_request


BENCH_CONFIG = "ci.bench.toml"


def timed_ci(copy: Path, *args: str) -> float:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "ci", *args], cwd=copy, capture_output=True, text=True,
                            timeout=1200, env={**os.environ, CONFIG_FILE_VARIABLE: str(copy / BENCH_CONFIG)})
    if result.returncode != 0:
        raise SystemExit(f"`ci {' '.join(args)}` failed:\n{result.stderr[-2000:]}")
    return round(time.perf_counter() - started, 2)


def switched_after(copy: Path) -> float:
    """Seconds from the rollback's first step to traffic switched (the host's steps up to and with the switch)."""
    durations = json.loads((copy / "reports" / "rollback.json").read_text())["hosts"][0]["durations"]
    return round(sum(durations.get(f"{step}_seconds", 0)
                     for step in ("lock", "reconcile", "target", "start", "health", "switch")), 2)


def constant_load(url: str, clients: int, stop: threading.Event, counts: dict) -> list[threading.Thread]:
    body = example_request()

    def client() -> None:
        with requests.Session() as session:
            while not stop.is_set():
                try:
                    ok = session.post(url + "/predict", json=body, timeout=10).status_code == 200
                except requests.RequestException:
                    ok = False
                counts["sent"] += 1
                counts["failed"] += not ok

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    return threads


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load-clients", type=int, default=8)
    args = parser.parse_args(argv)
    if not (REPOSITORY_ROOT / "reports" / "build.json").exists():
        raise SystemExit("reports/build.json is missing: run `python -m ci build` first")
    client = docker_engine.connect()
    ctx = Context.from_environment()
    plan, _ = plan_with_base(ctx, client)
    target_image = build_images(ctx, client, plan, ("target-host",))["target-host"]["reference"]
    model = json.loads((REPOSITORY_ROOT / "reports" / "build.json").read_text())["image"]
    upgrade = f"ml-model-service-bench:upgrade-{secrets.token_hex(3)}"
    client.images.build(fileobj=io.BytesIO(f"FROM {model}\nLABEL bench.upgrade=1\n".encode()), tag=upgrade, rm=True)
    figures: dict = {}
    targets = []
    with tempfile.TemporaryDirectory(prefix="bench-deploy-") as scratch:
        try:
            local = start_local_environment(client, project="ml-model-service", image=target_image,
                                            workdir=Path(scratch) / "targets", hosts=1,
                                            name_prefix=f"mlci-bench-target-{secrets.token_hex(3)}",
                                            run_label="benchmark", owner=process.owner_token())
            targets = local.targets
            copy = copy_workspace(Path(scratch) / "repo", with_build_report=True)
            # Beside ci.toml, not in it: ci.toml goes into the smoke test's runner image, which then stays the one
            # every other copy builds (from cache).
            (copy / BENCH_CONFIG).write_text((copy / "ci.toml").read_text() + local.toml("bench", public_port=8080))
            url = local.targets[0].public_url
            figures["first_deploy_seconds"] = timed_ci(copy, "deploy", "--env", "bench")
            print(f"first deploy (image streamed over SSH): {figures['first_deploy_seconds']:.1f} s")
            counts, stop = {"sent": 0, "failed": 0}, threading.Event()
            threads = constant_load(url, args.load_clients, stop, counts)
            figures["upgrade_deploy_seconds"] = timed_ci(copy, "deploy", "--env", "bench", "--image", upgrade)
            deploy_report = json.loads((copy / "reports" / "deploy.json").read_text())
            figures["cutover_seconds"] = deploy_report["hosts"][0]["durations"]["switch_seconds"]
            figures["rollback_seconds"] = timed_ci(copy, "rollback", "--env", "bench")
            figures["rollback_switched_after_seconds"] = switched_after(copy)
            timed_ci(copy, "deploy", "--env", "bench", "--image", upgrade)
            previous = json.loads((copy / "reports" / "deploy.json").read_text())["hosts"][0]["previous"]
            # What the end of the grace period does on the host: the previous release is stopped.
            subprocess.run(["docker", "exec", local.targets[0].name, "docker", "stop",
                            f"ml-model-service-bench-{previous}"], check=True, capture_output=True, timeout=120)
            figures["rollback_after_grace_seconds"] = timed_ci(copy, "rollback", "--env", "bench")
            figures["rollback_after_grace_switched_after_seconds"] = switched_after(copy)
            stop.set()
            for thread in threads:
                thread.join(timeout=15)
            figures.update(load_requests=counts["sent"], failed_requests=counts["failed"],
                           load_clients=args.load_clients)
            print(f"upgrade deploy under load: {figures['upgrade_deploy_seconds']:.1f} s "
                  f"(traffic switch {figures['cutover_seconds']:.1f} s)")
            print(f"rollback: {figures['rollback_seconds']:.1f} s within the grace period (traffic switched after "
                  f"{figures['rollback_switched_after_seconds']:.2f} s), "
                  f"{figures['rollback_after_grace_seconds']:.1f} s after it "
                  f"(switched after {figures['rollback_after_grace_switched_after_seconds']:.2f} s)")
            print(f"failed requests during upgrade and rollback: {counts['failed']} of {counts['sent']} "
                  f"({args.load_clients} keep-alive clients)")
        finally:
            stop_local_environment(client, targets)
            client.images.remove(upgrade, noprune=True)
    print(f"results: {save_result('deploy', figures)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
