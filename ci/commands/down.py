"""`ci down`: stop and remove everything `ci up` started on this machine."""

from ci.commands.outcome import Outcome
from ci.executor import docker_engine
from ci.local_service import local_service_plan

NAME = "down"
HELP = "stop and remove the locally running model service"


def add_arguments(parser) -> None:
    pass


def run(args, ctx) -> Outcome:
    plan = local_service_plan(ctx.config, image="")
    removed = docker_engine.remove_labelled_containers(docker_engine.connect(), plan.label_filter)
    if not removed:
        return Outcome.ok("nothing was running")
    return Outcome.ok(f"removed {', '.join(removed)}")
