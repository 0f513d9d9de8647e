"""Read what git knows about the work tree (commit, branch, tag, dirty), tolerating a tree without git."""

from pathlib import Path

from ci.errors import CannotRun
from ci.executor.process import capture
from ci.identity import GitFacts


def read_git_facts(root: Path) -> GitFacts:
    def ask(*args: str) -> str:
        try:
            result = capture(["git", *args], cwd=root, timeout=15)
        except CannotRun:
            return ""
        return result.stdout.strip() if result.returncode == 0 else ""

    commit = ask("rev-parse", "HEAD")
    if not commit:
        return GitFacts()
    branch = ask("rev-parse", "--abbrev-ref", "HEAD")
    return GitFacts(
        commit=commit,
        branch="" if branch == "HEAD" else branch,
        exact_tag=ask("describe", "--tags", "--exact-match", "HEAD"),
        dirty=bool(ask("status", "--porcelain", "--untracked-files=no")),
        commit_time=int(time) if (time := ask("show", "--no-patch", "--format=%ct", "HEAD")).isdigit() else None,
    )
