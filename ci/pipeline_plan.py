"""The pipeline's stages in order, each one `python -m ci` command, exactly as the Jenkinsfile runs them."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    name: str
    argv: tuple[str, ...]


STAGES = (
    Stage("Setup", ("setup",)),
    Stage("Lint", ("lint",)),
    Stage("Unit", ("test", "unit")),
    Stage("Build", ("build",)),
    Stage("Integration", ("test", "integration")),
    Stage("Acceptance", ("test", "acceptance")),
    # The local environment's target host is started by the deploy itself (ci.toml [environments.local]).
    Stage("Deploy", ("deploy", "--env", "local")),
)


def stage_names() -> list[str]:
    return [stage.name for stage in STAGES]
