"""Run `python3 -m ci` inside the repository's pinned virtual environment, creating it on a fresh machine.

This module uses the standard library only: it runs before any pinned dependency can be imported. A
Jenkins `sh 'python3 -m ci lint'` step, a developer's shell and `bin/ci` all end up in the same
interpreter with the same packages. An interpreter that already holds the pinned requirements (the
project's venv, the test-runner image's /opt/venv, a venv used on a copy of the workspace) is used as is.
"""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAMP_NAME = ".requirements.sha256"
VENV_VARIABLE = "CI_VENV"


def requirements_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted((root / "requirements").glob("*.txt")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def holds_requirements(prefix: Path, wanted: str) -> bool:
    stamp = prefix / STAMP_NAME
    return stamp.is_file() and stamp.read_text().strip() == wanted


def venv_path(root: Path, environ) -> Path:
    return Path(environ.get(VENV_VARIABLE) or root / ".venv")


def pip_install_command(venv: Path, root: Path) -> list[str]:
    """Exactly the pinned files: every requirement carries its sha256 (ci/requirements_lock.py) and lists what it
    needs, so pip checks every download against its hash and resolves nothing of its own."""
    return [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--require-hashes", "--no-deps", "-r", str(root / "requirements" / "dev.txt")]


def create_venv(venv: Path, root: Path, wanted: str) -> None:
    print(f"python -m ci: installing the pinned requirements into {venv}", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(pip_install_command(venv, root), check=True)
    (venv / STAMP_NAME).write_text(wanted + "\n")


def ensure_project_environment(root: Path = ROOT, environ=os.environ) -> None:
    """Return when this interpreter is ready; otherwise (re)create the venv and replace this process with it."""
    wanted = requirements_digest(root)
    if holds_requirements(Path(sys.prefix), wanted):
        return
    venv = venv_path(root, environ)
    if not holds_requirements(venv, wanted):
        try:
            create_venv(venv, root, wanted)
        except (OSError, subprocess.CalledProcessError) as error:
            print(f"python -m ci: could not create the virtual environment {venv} ({error}); a fresh machine "
                  f"needs Python 3.11 with venv and pip (Debian: apt-get install python3-venv)", file=sys.stderr)
            raise SystemExit(3) from None
    python = venv / "bin" / "python"
    os.execv(python, [str(python), "-m", "ci", *sys.argv[1:]])
