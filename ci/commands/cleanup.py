"""`ci cleanup`: remove every container, network and volume this build's test stacks left on the engine.

Under Jenkins (BUILD_TAG set) it removes this build's stacks only, so it is safe in `post { cleanup }`
while other builds run; locally it removes every local run's stacks of this project. A run whose detached
deploy worker still runs (it outlived an aborted step: ci/detached_workers.py) is left alone, saying so.
"""

from ci import detached_workers
from ci.commands.outcome import Outcome
from ci.executor import docker_engine, process
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
    project = ctx.config.project.name
    prefix = project_prefix(project, ctx.identity.run_id, bool(ctx.environ.get("BUILD_TAG")))
    records = detached_workers.read_records(ctx.root, ctx.environ)
    live, _ = detached_workers.split_live(records, process.same_process)
    # A record whose worker and waiter are both gone (the waiter was SIGKILLed, or the pid now belongs to another
    # process) goes, with the secret copies it names.
    detached_workers.remove_abandoned(records, process.same_process)
    protected = {project_prefix(project, record.run, True) for record in live}
    left: list[str] = []

    def matches(name: str) -> bool:
        wanted = name == args.project if args.project else name.startswith(prefix)
        if wanted and any(name.startswith(start) for start in protected):
            left.append(name)
            return False
        return wanted

    removed = docker_engine.remove_compose_projects(docker_engine.connect(), matches)
    counts = ", ".join(f"{len(items)} {kind}" for kind, items in removed.items()) if any(removed.values()) else ""
    summary = f"removed {counts}" if counts else "nothing to remove"
    if live:
        workers = "; ".join(f"the detached `ci {record.command}` of run {record.run} (pid {record.pid}) is still "
                            f"running" for record in live)
        kept = f", left {', '.join(sorted(set(left)))}" if left else ", nothing of its run to leave"
        summary = f"{summary}; {workers}{kept} (run `python -m ci cleanup` again once it has ended)"
    return Outcome.ok(summary)
