"""`ci images prune --keep N`: remove old local build images of this project (found by label), newest N kept."""

from ci.build_plan import BRANCH_LABEL, IMAGE_ROLE_LABEL, PROJECT_LABEL
from ci.commands.outcome import Outcome
from ci.console import info
from ci.errors import UserError
from ci.executor import docker_engine
from ci.prune_plan import LocalImage, images_to_prune

NAME = "images"
HELP = "manage this project's local images: `images prune --keep N` keeps the newest N per branch"


def add_arguments(parser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    prune = actions.add_parser("prune", help="remove all but the newest N images per branch and role")
    prune.add_argument("--keep", type=int, default=3, help="images to keep per branch and role (default 3)")
    prune.add_argument("--dry-run", action="store_true", help="list what would be removed")


def run(args, ctx) -> Outcome:
    if args.keep < 1:
        raise UserError("--keep must be at least 1: the newest image of a branch is never pruned")
    client = docker_engine.connect()
    project = ctx.config.project.name
    found = [
        LocalImage(image.id, tuple(image.tags), image.attrs.get("Created", ""),
                   image.labels.get(BRANCH_LABEL, ""), image.labels.get(IMAGE_ROLE_LABEL, ""))
        for image in client.images.list(filters={"label": f"{PROJECT_LABEL}={project}"})
    ]
    doomed = images_to_prune(found, args.keep)
    removed, in_use = [], []
    for image in doomed:
        if args.dry_run:
            info(f"would remove {', '.join(image.tags) or image.image_id[:19]} ({image.branch}, {image.created[:19]})")
            continue
        if docker_engine.remove_image_tags(client, image.image_id, image.tags):
            removed.append(image)
        else:
            in_use.append(image)
    for image in in_use:
        info(f"kept {', '.join(image.tags) or image.image_id[:19]}: a container or a newer image depends on it")
    verb = "would remove" if args.dry_run else "removed"
    count = len(doomed) if args.dry_run else len(removed)
    return Outcome.ok(f"{verb} {count} of {len(found)} image(s) of {project}, keeping the newest {args.keep} "
                      f"per branch and role")
