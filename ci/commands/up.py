"""`ci up`: run the built image on this machine, wait until /ready answers, and print its URL."""

from ci.commands.build import built_model_image
from ci.commands.outcome import Outcome
from ci.console import progress
from ci.executor import docker_engine
from ci.local_service import local_service_plan
from ci.reports import write_json_report

NAME = "up"
HELP = "start the model image locally (replacing a previous one) and print the URL where it answers"


def add_arguments(parser) -> None:
    parser.add_argument("--image", help="image reference (default: the last `ci build`, from reports/build.json)")


def run(args, ctx) -> Outcome:
    plan = local_service_plan(ctx.config, built_model_image(ctx, args.image))
    client = docker_engine.connect()
    replaced = docker_engine.remove_labelled_containers(client, plan.label_filter)
    if replaced:
        progress(f"removed the previous local service ({', '.join(replaced)})")
    progress(f"starting {plan.image} as {plan.name}")
    container = docker_engine.run_detached(
        client, image=plan.image, name=plan.name, labels=plan.labels, environment=plan.environment,
        ports=plan.ports, tmpfs=plan.tmpfs,
    )
    try:
        port = docker_engine.published_port(container, plan.container_port)
        url = f"http://127.0.0.1:{port}"
        seconds = docker_engine.wait_until_ready(container, f"{url}/ready", ctx.config.service.ready_timeout_seconds)
    except BaseException:
        # Never leave a half-started service behind, on failure or Ctrl-C.
        docker_engine.remove_labelled_containers(client, plan.label_filter)
        raise
    write_json_report(ctx.root, "up.json", {"image": plan.image, "container": plan.name, "url": url},
                      ctx.report_run)
    print(f"The model answers at {url}  (try: curl {url}/metadata; stop it with `python -m ci down`)")
    return Outcome.ok(f"{plan.image} ready at {url} after {seconds:.1f}s")
