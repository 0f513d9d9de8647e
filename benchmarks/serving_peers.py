"""Peers of the serving benchmark made ready: installed once into cached venvs of their own, the model exported."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from benchmarks.serving_servers import (
    PeerSpec, bentoml_export_command, mlflow_export_command, peer_environment, peer_requirements,
    pip_install_command, venv_create_command, venv_dir, versions_command,
)

INSTALLED_MARKER = ".bench-installed"
INSTALL_TIMEOUT_SECONDS = 1500
EXPORT_TIMEOUT_SECONDS = 300


class PeerUnavailable(Exception):
    """A peer could not be installed or prepared here; the message says why."""


# pip's "ERROR: ..." and the last line of a Python traceback ("mlflow.exceptions.MlflowException: ...").
_ERROR_LINE = re.compile(r"^(ERROR\b|[\w.]*(Error|Exception)\b)")


def failure_summary(output: str, lines: int = 8) -> tuple[str, str]:
    """What explains a failed command: a headline (its first error line) and the end of its output."""
    meaningful = [shorten(line.rstrip()) for line in output.splitlines()
                  if line.strip() and "is ignored: it is neither" not in line]
    errors = [line.strip() for line in meaningful if _ERROR_LINE.match(line)]
    headline = errors[0] if errors else (meaningful[-1].strip() if meaningful else "(no output)")
    return headline, "\n".join(meaningful[-lines:])


def shorten(line: str, limit: int = 240) -> str:
    # pip's "from versions: ..." lists run to thousands of characters.
    return line if len(line) <= limit else line[:limit] + " ..."


def run_step(command: list[str], what: str, log_path: Path, timeout: float, env: dict | None = None) -> str:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise PeerUnavailable(f"{what} did not finish within {timeout:.0f} s") from None
    except OSError as error:
        raise PeerUnavailable(f"{what} could not run: {error}") from None
    output = result.stdout + result.stderr
    with log_path.open("a") as log:
        log.write(f"$ {' '.join(command)}\n{output}\n")
    if result.returncode != 0:
        headline, tail = failure_summary(output)
        raise PeerUnavailable(f"{what} failed (exit {result.returncode}): {headline}\n{tail}")
    return result.stdout


def ensure_venv(spec: PeerSpec, cache_dir: Path, sklearn_version: str, say) -> Path:
    """The peer's venv, reused when it was completed with the same pins; (re)built otherwise."""
    venv = venv_dir(cache_dir, spec)
    requirements = peer_requirements(spec, sklearn_version)
    marker = venv / INSTALLED_MARKER
    if _installed_requirements(marker) == requirements:
        return venv
    if venv.exists():
        shutil.rmtree(venv)  # half-built by an interrupted run, or pinned differently
    cache_dir.mkdir(parents=True, exist_ok=True)
    log_path = cache_dir / f"{venv.name}.install.log"
    log_path.write_text("")
    say(f"[{spec.name}] installing {' '.join(requirements)} into {venv} (first run only; log {log_path})")
    run_step(venv_create_command(sys.executable, venv), "creating the venv", log_path, 120)
    run_step(pip_install_command(venv, requirements), f"pip install {' '.join(requirements)}", log_path,
             INSTALL_TIMEOUT_SECONDS)
    marker.write_text(json.dumps(requirements))  # written last: its presence means the install completed
    return venv


def _installed_requirements(marker: Path) -> list[str] | None:
    try:
        return json.loads(marker.read_text())
    except (OSError, ValueError):
        return None


def installed_versions(python: Path | str, packages: tuple[str, ...]) -> dict:
    result = subprocess.run(versions_command(python, packages), capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        return {"error": failure_summary(result.stderr)[0]}
    return json.loads(result.stdout)


def export_for_mlflow(venv: Path, base_env: dict, model_pickle: Path, schema: Path, out: Path, log: Path) -> None:
    run_step(mlflow_export_command(venv, model_pickle, schema, out), "saving the model with mlflow.sklearn", log,
             EXPORT_TIMEOUT_SECONDS, env=peer_environment(base_env, venv, {}))


def export_for_bentoml(venv: Path, base_env: dict, model_pickle: Path, home: Path, log: Path) -> None:
    run_step(bentoml_export_command(venv, model_pickle), "saving the model with bentoml.sklearn", log,
             EXPORT_TIMEOUT_SECONDS, env=peer_environment(base_env, venv, {"BENTOML_HOME": str(home)}))
