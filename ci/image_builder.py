"""Build the images of a plan through the engine: shared by `ci build` (the model) and `ci test` (test images)."""

import json
from pathlib import Path

from ci.base_image import resolve_base
from ci.build_plan import MODEL, BuildPlan, build_plan_for
from ci.build_trust import TRUST_DIR, trust_files
from ci.console import Stopwatch, progress
from ci.errors import CannotRun
from ci.executor import docker_engine
from ci.executor.files import sync_directory
from ci.model_labels import METADATA_PATH_IN_IMAGE, model_labels


def plan_with_base(ctx, client) -> tuple[BuildPlan, str]:
    base = resolve_base(client, ctx.config.image)
    if base.needs_bootstrap:
        raise CannotRun(f"no base image: {base.reason}; run `python -m ci setup` to bootstrap one")
    return build_plan_for(ctx.config, ctx.identity, base.reference, ctx.environ), base.reason


def build_images(ctx, client, plan: BuildPlan, roles: tuple[str, ...]) -> dict[str, dict]:
    """Build and tag each role's image; returns what reports record about each."""
    sync_directory(ctx.root / TRUST_DIR, trust_files(), keep=("README.md",))
    built = {}
    for role in roles:
        image = plan.spec(role)
        reference = plan.primary_reference(role)
        with docker_engine.one_build_of(client, reference):
            # What this build's tags name now: a rebuild moves the tags to a new image, and the old one must not stay
            # behind untagged (an agent building every push would fill its disk).
            replaced = docker_engine.image_ids(client, plan.references(role))
            progress(f"building {reference}" + (f" (target {image.target})" if image.target else ""))
            watch = Stopwatch()
            image_id = docker_engine.build_image(
                client, context=Path(ctx.root), dockerfile=image.dockerfile, target=image.target, tag=reference,
                buildargs=plan.buildargs, labels=plan.labels_for(role), on_progress=progress,
                stage_repository=plan.stage_repository,
            )
            labels = plan.labels_for(role)
            if role == MODEL:
                # The model's version and metrics exist only once training ran inside the build.
                metadata = json.loads(docker_engine.read_file_from_image(client, reference, METADATA_PATH_IN_IMAGE))
                extra = model_labels(metadata)
                image_id = docker_engine.add_labels(client, reference, extra)
                labels = {**labels, **extra}
            docker_engine.tag_image(client, image_id, image.repository, plan.tags)
            for old_id in replaced - {image_id}:
                docker_engine.remove_if_untagged(client, old_id)
        built[role] = {
            "reference": reference, "references": plan.references(role), "image_id": image_id, "labels": labels,
            "size_bytes": docker_engine.image_size_bytes(client, image_id), "build_seconds": round(watch.seconds, 2),
        }
    return built
