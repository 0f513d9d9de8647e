"""`ci down`: stop and remove what runs locally: the `ci up` service, the local target host and the local registry."""

from ci.commands.outcome import Outcome
from ci.executor import docker_engine
from ci.local_registry import stop_local_registry
from ci.local_service import local_service_plan
from ci.local_target import local_target_name, stop_local_target

NAME = "down"
HELP = "stop and remove what runs locally: the `ci up` service, the local target host and the local registry"


def add_arguments(parser) -> None:
    pass


def run(args, ctx) -> Outcome:
    client = docker_engine.connect()
    plan = local_service_plan(ctx.config, image="")
    removed = docker_engine.remove_labelled_containers(client, plan.label_filter)
    project = ctx.config.project.name
    for env, environment in ctx.config.environments.items():
        if environment.local_target and stop_local_target(client, project, env):
            removed.append(local_target_name(project, env))
    if stop_local_registry(ctx.root):
        removed.append(f"the local registry at {ctx.config.registry.address}")
    if not removed:
        return Outcome.ok("nothing was running")
    return Outcome.ok(f"removed {', '.join(removed)}")
