"""Everything a command needs to build its plan: repository root, configuration, environment, build identity."""

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from ci import reports
from ci.config import Config, load_config
from ci.executor.git import read_git_facts
from ci.identity import BuildIdentity, identity_from, in_ci

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Context:
    root: Path
    config: Config
    environ: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_environment(cls, root: Path = REPOSITORY_ROOT) -> "Context":
        environ = dict(os.environ)
        return cls(root=root, config=load_config(root, environ), environ=environ)

    @cached_property
    def identity(self) -> BuildIdentity:
        return identity_from(self.environ, read_git_facts(self.root))

    @cached_property
    def report_run(self) -> str:
        """The run this command's reports belong to (not identity.run_id, which is unique per process)."""
        return reports.current_run(self.root, self.environ)

    @property
    def in_ci(self) -> bool:
        return in_ci(self.environ)
