"""Run a Groovy script with the machine's Groovy and Java (the offline Jenkinsfile checks)."""

import os
import shutil
import subprocess
from pathlib import Path

from ci.errors import CannotRun
from ci.executor.process import capture


def java_home() -> str | None:
    """The JDK behind `java` on PATH: Debian's groovy launcher needs JAVA_HOME and guesses it wrongly."""
    java = shutil.which("java")
    return str(Path(java).resolve().parent.parent) if java else None


def run_groovy(script: Path, *args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    home = java_home()
    if not shutil.which("groovy") or not home:
        raise CannotRun("groovy (with a Java runtime) is not installed: `python -m ci setup` installs it")
    return capture(["groovy", str(script), *args], cwd=cwd, timeout=timeout, env={**os.environ, "JAVA_HOME": home})
