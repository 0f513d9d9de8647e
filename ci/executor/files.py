"""Copy files into the work tree without needless rewrites (an unchanged file keeps Docker's cache warm)."""

import filecmp
import shutil
from pathlib import Path


def sync_directory(directory: Path, wanted: dict[str, Path], keep: tuple[str, ...] = ()) -> None:
    """Make directory hold exactly wanted (relative path -> source file) plus the names in keep."""
    for relative, source in wanted.items():
        target = directory / relative
        if not (target.exists() and filecmp.cmp(source, target, shallow=False)):
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    for stale in sorted(directory.rglob("*"), reverse=True):
        relative = stale.relative_to(directory).as_posix()
        if stale.is_file() and relative not in keep and relative not in wanted:
            stale.unlink()
        elif stale.is_dir() and not any(stale.iterdir()):
            stale.rmdir()
