"""`ci build`: build and tag the model image with the Docker SDK, and record it in reports/build.json."""

import hashlib
import json
from datetime import datetime, timezone

from ci.build_plan import MODEL, build_plan_for
from ci.commands.outcome import Outcome
from ci.console import Stopwatch, info, progress
from ci.executor import docker_engine
from ci.image_builder import build_images, plan_with_base
from ci.errors import CannotRun
from ci.reports import REPORTS_DIR, read_json_report, write_json_report
from ci.sbom import INVENTORY_SCRIPT, SBOM_REPORT, parse_dpkg_status, sbom_json

NAME = "build"
HELP = "build and tag the model image (tags from commit, branch, build number and v* tag)"
BUILD_REPORT = "build.json"


def add_arguments(parser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="print the tags, build arguments and labels only")


def run(args, ctx) -> Outcome:
    if args.dry_run:
        plan = build_plan_for(ctx.config, ctx.identity, ctx.config.image.base, ctx.environ)
        info(json.dumps(plan.as_dict(), indent=2, sort_keys=True))
        info("(the model's name, version, artifact sha256 and metrics are added as io.mlci.model.* labels "
             "once training has run inside the build)")
        return Outcome.ok(f"dry run: would build {', '.join(plan.references(MODEL))}")
    client = docker_engine.connect()
    plan, base_reason = plan_with_base(ctx, client)
    progress(f"base image {plan.base_image} ({base_reason})")
    watch = Stopwatch()
    model = build_images(ctx, client, plan, (MODEL,))[MODEL]
    sbom = _write_sbom(ctx, client, model)
    # A tag names whatever local image has it: the id says which base this build really used.
    base_image_id = next(iter(docker_engine.image_ids(client, [plan.base_image])), "")
    write_json_report(ctx.root, BUILD_REPORT, {
        "image": model["reference"], "images": {MODEL: model}, "tags": plan.tags, "base_image": plan.base_image,
        "base_image_id": base_image_id, "sbom": sbom,
        "labels": model["labels"], "revision": ctx.identity.revision, "build_seconds": round(watch.seconds, 2),
    }, ctx.report_run)
    return Outcome.ok(f"built {model['reference']} ({model['size_bytes'] / 1e6:.0f} MB) in {watch.seconds:.1f}s; "
                      f"tags {', '.join(plan.tags)}")


def _write_sbom(ctx, client, model: dict) -> dict:
    """reports/sbom.cdx.json, from the image's own account of its Python distributions and dpkg database."""
    inventory = json.loads(docker_engine.run_in_image(client, model["image_id"], ["python", "-c", INVENTORY_SCRIPT]))
    os_packages = parse_dpkg_status(inventory["dpkg_status"])
    document = sbom_json({"name": ctx.config.image.repository, "version": model["references"][0].split(":")[-1],
                          "image_id": model["image_id"]}, inventory["python"], os_packages,
                         _source_time(model["labels"]))
    path = ctx.root / REPORTS_DIR / SBOM_REPORT
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(document)
    return {"path": f"{REPORTS_DIR}/{SBOM_REPORT}", "sha256": hashlib.sha256(document.encode()).hexdigest(),
            "python_packages": len(inventory["python"]), "os_packages": len(os_packages)}


def _source_time(labels: dict) -> datetime:
    """The image's source date (its `created` label: the same source, the same SBOM), else now."""
    created = labels.get("org.opencontainers.image.created", "")
    return datetime.fromisoformat(created.replace("Z", "+00:00")) if created else datetime.now(timezone.utc)


def built_model_image(ctx, explicit: str | None = None) -> str:
    """The model image other stages use: the one given, else the one the last `ci build` recorded (never rebuilt)."""
    if explicit:
        return explicit
    report = read_json_report(ctx.root, BUILD_REPORT)
    if not report:
        raise CannotRun("no model image: run `python -m ci build` first (it writes reports/build.json) "
                        "or pass --image")
    return report["image"]
