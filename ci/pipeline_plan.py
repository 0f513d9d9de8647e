"""The pipeline's stages in order, each a list of `python -m ci` commands, exactly as the Jenkinsfile runs them.

One list serves both runners. The deploy environments are the one difference, and it is data: Jenkins
deploys to staging and then to production where ci.toml configures it; the local pipeline deploys to its
local target host. Approve is `ci approve` locally and Jenkins's own `input` step there.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from ci.tagging import SEMVER_TAG


@dataclass(frozen=True)
class DeployTarget:
    environment: str
    # An optional target is skipped, saying so, when ci.toml has no [environments.<name>] for it.
    optional: bool = False

    def deploy_argv(self) -> tuple[str, ...]:
        return ("deploy", "--env", self.environment, *(("--if-configured",) if self.optional else ()))


@dataclass(frozen=True)
class Stage:
    name: str
    commands: tuple[tuple[str, ...], ...]
    # Jenkins answers this stage with its `input` step (no agent held); locally `ci approve` asks.
    approval: bool = False

    def shown(self) -> str:
        """The stage's commands as a person would type them."""
        return "; ".join("python -m ci " + " ".join(command) for command in self.commands)


JENKINS_TARGETS = (DeployTarget("staging"), DeployTarget("production", optional=True))
LOCAL_TARGETS = (DeployTarget("local"),)
# Jenkins-only: the developer's working tree is the local pipeline's checkout.
JENKINS_ONLY_STAGES = ("Checkout",)
# Jenkins-only toolkit commands: every fresh workspace (Checkout's, each deploy environment's) starts its run
# with `ci new-run`; the local `ci pipeline` starts its run itself, not as a stage command. Each deploy environment
# records the input step's approver (`ci approve` records it locally, in the Approve stage).
JENKINS_ONLY_COMMANDS = (("new-run",), ("approve", "--jenkins-input"))
# The release stages run for tags that give the image a version (ci.tagging); Jenkins's REGEXP comparator
# matches the whole name (String.matches), so the anchors go.
RELEASE_TAG_REGEXP = SEMVER_TAG.pattern.removeprefix("^").removesuffix("$")


def deploy_lock(project: str, environment: str) -> str:
    """The lock every job deploying to an environment takes: one per environment, whichever branch or tag
    job deploys (in a multibranch project each is a job of its own), never named after a job."""
    return f"{project}-deploy-{environment}"


def pipeline_stages(targets: Sequence[DeployTarget]) -> tuple[Stage, ...]:
    environments = tuple(argument for target in targets for argument in ("--env", target.environment))
    return (
        Stage("Setup", (("setup",),)),
        Stage("Lint", (("lint",),)),
        Stage("Unit", (("test", "unit"),)),
        Stage("Build", (("build",),)),
        Stage("Integration", (("test", "integration"),)),
        Stage("Acceptance", (("test", "acceptance"),)),
        # The evidence bundle is written (and archived by Jenkins) before anyone is asked to approve.
        Stage("Push", (("push",), ("evidence", *environments))),
        Stage("Approve", (("approve",),), approval=True),
        Stage("Deploy", tuple(target.deploy_argv() for target in targets)),
    )


def stage_names() -> list[str]:
    return [stage.name for stage in pipeline_stages(LOCAL_TARGETS)]


def select_stages(stages: Sequence[Stage], only: Sequence[str] = (), start: str | None = None,
                  until: str | None = None, skip: Sequence[str] = ()) -> list[tuple[Stage, bool]]:
    """Each stage with whether it runs. Names match case-insensitively; an unknown name is a ValueError."""
    names = [stage.name for stage in stages]
    lowered = {name.lower(): index for index, name in enumerate(names)}

    def index_of(name: str) -> int:
        if name.lower() not in lowered:
            raise ValueError(f"unknown stage '{name}' (stages: {', '.join(names)})")
        return lowered[name.lower()]

    chosen = {index_of(name) for name in only} if only else set(range(len(stages)))
    first = index_of(start) if start else 0
    last = index_of(until) if until else len(stages) - 1
    if first > last:
        raise ValueError(f"--from {names[first]} comes after --until {names[last]}")
    skipped = {index_of(name) for name in skip}
    return [(stage, index in chosen and first <= index <= last and index not in skipped)
            for index, stage in enumerate(stages)]
