"""`ci build`: build the model image with the Docker SDK, tag it, and record it in reports/build.json."""

import filecmp
import json
import shutil

from ci.base_image import resolve_base
from ci.build_plan import BUILD_TRUST_DIR, build_plan_for, host_ca_bundle
from ci.commands.outcome import Outcome
from ci.console import Stopwatch, info, progress
from ci.errors import CannotRun
from ci.executor import docker_engine
from ci.reports import write_json_report

NAME = "build"
HELP = "build and tag the model image (tags from commit, branch, build number and v* tag)"
BUILD_REPORT = "build.json"


def add_arguments(parser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="print the tags, build arguments and labels only")


def run(args, ctx) -> Outcome:
    if args.dry_run:
        plan = build_plan_for(ctx.config, ctx.identity, ctx.config.image.base, ctx.environ)
        info(json.dumps(plan.as_dict(), indent=2, sort_keys=True))
        return Outcome.ok(f"dry run: would build {', '.join(plan.references)}")

    client = docker_engine.connect()
    base = resolve_base(client, ctx.config.image)
    if base.needs_bootstrap:
        raise CannotRun(f"no base image: {base.reason}; run `python -m ci setup` to bootstrap one")
    plan = build_plan_for(ctx.config, ctx.identity, base.reference, ctx.environ)
    _provide_build_trust(ctx.root)
    progress(f"building {plan.primary_reference} from {base.reference} ({base.reason})")
    watch = Stopwatch()
    image_id = docker_engine.build_image(
        client, context=ctx.root, dockerfile=plan.dockerfile, tag=plan.primary_reference,
        buildargs=plan.buildargs, labels=plan.labels, on_progress=progress,
    )
    docker_engine.tag_image(client, image_id, plan.repository, plan.tags)
    seconds = watch.seconds
    size = docker_engine.image_size_bytes(client, image_id)
    write_json_report(ctx.root, BUILD_REPORT, {
        "image": plan.primary_reference, "image_id": image_id, "references": plan.references,
        "tags": plan.tags, "repository": plan.repository, "size_bytes": size,
        "base_image": base.reference, "labels": plan.labels, "build_seconds": round(seconds, 2),
        "revision": ctx.identity.revision,
    })
    return Outcome.ok(f"built {plan.primary_reference} ({size / 1e6:.0f} MB) in {seconds:.1f}s; "
                      f"tags {', '.join(plan.tags)}")


def _provide_build_trust(root) -> None:
    """Copy the host's CA bundle into the build context so pip in the build stages trusts the same CAs."""
    bundle = host_ca_bundle()
    target = root / BUILD_TRUST_DIR / "ca-certificates.crt"
    if bundle and not (target.exists() and filecmp.cmp(bundle, target, shallow=False)):
        shutil.copyfile(bundle, target)
