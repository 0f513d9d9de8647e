"""`ci cleanup`: remove every container, network and volume this build's test stacks left on the engine.

Under Jenkins (BUILD_TAG set) it removes this build's stacks only, so it is safe in `post { cleanup }`
while other builds run; locally it removes every local run's stacks of this project.
"""

from ci.commands.outcome import Outcome
from ci.executor import docker_engine
from ci.identity import LOCAL_BUILD_MARKER
from ci.test_plan import compose_project_name

NAME = "cleanup"
HELP = "remove the test stacks (containers, networks, volumes) of this build, or of one --project"


def add_arguments(parser) -> None:
    parser.add_argument("--project", help="one compose project to remove (as printed by `ci test --keep`)")


def project_prefix(project_name: str, run_id: str, under_jenkins: bool) -> str:
    """Compose projects are named <project>-<run id>-<tier>; locally every run id starts with 'local-'."""
    if under_jenkins:
        return compose_project_name(project_name, run_id, "").rstrip("-") + "-"
    return f"{project_name}-{LOCAL_BUILD_MARKER}-"


def run(args, ctx) -> Outcome:
    prefix = project_prefix(ctx.config.project.name, ctx.identity.run_id, bool(ctx.environ.get("BUILD_TAG")))

    def matches(name: str) -> bool:
        return name == args.project if args.project else name.startswith(prefix)

    removed = docker_engine.remove_compose_projects(docker_engine.connect(), matches)
    if not any(removed.values()):
        return Outcome.ok("nothing to remove")
    counts = ", ".join(f"{len(items)} {kind}" for kind, items in removed.items())
    return Outcome.ok(f"removed {counts}")
