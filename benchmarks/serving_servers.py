"""What the serving benchmark runs, as plain data: peer pins, venv and export commands, server plans, requests."""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from benchmarks.serving_load import HttpCall
from benchmarks.serving_process import LOOPBACK

PEERS_DIR = Path(__file__).resolve().parent / "peers"
NODELAY_HOOK_DIR = PEERS_DIR / "nodelay"
BENTOML_SERVICE_FILE = PEERS_DIR / "bentoml_service.py"
BENTOML_SERVICE = "bentoml_service:BreastCancerClassifier"
BENTOML_MODEL_NAME = "breast-cancer-rf"
JSON = "application/json"
# Peers get one worker per core, their best shot on this machine (ours is one process, one event loop).
PEER_WORKERS = 2
# Keep the peers from phoning home: only 127.0.0.1 is ever contacted.
NO_TELEMETRY = {"DO_NOT_TRACK": "true", "MLFLOW_DISABLE_TELEMETRY": "true", "BENTOML_DO_NOT_TRACK": "True"}


@dataclass(frozen=True)
class PeerSpec:
    name: str
    title: str
    package: str
    version: str
    pin_note: str
    reported_packages: tuple[str, ...]


# mlflow 3.18.0 is the newest on PyPI but cannot install here: it requires mlflow-skinny==3.18.0, which the
# index does not have; 3.17.2 is the newest that installs.
MLFLOW = PeerSpec(
    name="mlflow", title="MLflow", package="mlflow", version="3.17.2",
    pin_note="newest installable 3.x: mlflow 3.18.0 needs mlflow-skinny==3.18.0, which the index lacks",
    reported_packages=("mlflow", "mlflow-skinny", "scikit-learn", "numpy", "pandas", "fastapi", "starlette",
                       "uvicorn", "uvloop", "httptools", "h11"),
)
BENTOML = PeerSpec(
    name="bentoml", title="BentoML", package="bentoml", version="1.4.40",
    pin_note="newest 1.4.x",
    reported_packages=("bentoml", "scikit-learn", "numpy", "pydantic", "starlette", "uvicorn", "uvloop",
                       "httptools", "h11"),
)
PEERS = {spec.name: spec for spec in (MLFLOW, BENTOML)}
OUR_PACKAGES = ("uvicorn", "uvloop", "httptools", "onnxruntime", "numpy", "orjson", "prometheus_client",
                "scikit-learn", "skl2onnx")


@dataclass(frozen=True)
class ServerPlan:
    """Everything needed to start one server and load it; built without side effects."""

    name: str
    title: str
    command: list[str]
    env: dict[str, str]
    cwd: Path
    port: int
    predict: HttpCall
    health: HttpCall
    workers: int
    startup_timeout_s: float
    stop_grace_s: float
    notes: list[str] = field(default_factory=list)
    prediction_log: Path | None = None  # ours only: the SQLite file whose rows are counted after shutdown

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"


# --- virtual environments -------------------------------------------------------------------------------------

def venv_dir(cache_dir: Path, spec: PeerSpec) -> Path:
    return cache_dir / f"{spec.name}-{spec.version}"


def venv_bin(venv: Path, program: str) -> Path:
    return venv / "bin" / program


def peer_requirements(spec: PeerSpec, sklearn_version: str) -> list[str]:
    # scikit-learn equal to ours, so that the pickle we hand over loads exactly.
    return [f"{spec.package}=={spec.version}", f"scikit-learn=={sklearn_version}"]


def venv_create_command(python: str, venv: Path) -> list[str]:
    return [python, "-m", "venv", str(venv)]


def pip_install_command(venv: Path, requirements: list[str]) -> list[str]:
    return [str(venv_bin(venv, "python")), "-m", "pip", "install", "--quiet", *requirements]


VERSIONS_SNIPPET = (
    "import json, platform, sys\n"
    "from importlib import metadata\n"
    "def version(name):\n"
    "    try:\n"
    "        return metadata.version(name)\n"
    "    except metadata.PackageNotFoundError:\n"
    "        return None\n"
    "print(json.dumps({'python': platform.python_version(), **{n: version(n) for n in sys.argv[1:]}}))\n"
)


def versions_command(python: Path | str, packages: tuple[str, ...]) -> list[str]:
    return [str(python), "-c", VERSIONS_SNIPPET, *packages]


# --- model export into each peer's format ---------------------------------------------------------------------

def mlflow_export_command(venv: Path, model_pickle: Path, schema: Path, out: Path) -> list[str]:
    return [str(venv_bin(venv, "python")), str(PEERS_DIR / "mlflow_export.py"), "--model-pickle", str(model_pickle),
            "--schema", str(schema), "--out", str(out)]


def bentoml_export_command(venv: Path, model_pickle: Path) -> list[str]:
    return [str(venv_bin(venv, "python")), str(PEERS_DIR / "bentoml_export.py"), "--model-pickle", str(model_pickle),
            "--name", BENTOML_MODEL_NAME]


def peer_environment(base: dict[str, str], venv: Path, extra: dict[str, str]) -> dict[str, str]:
    """As if the peer's venv were activated: its bin first on PATH (MLflow execs `uvicorn` from PATH)."""
    env = {key: value for key, value in base.items() if key not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(NO_TELEMETRY)
    env["VIRTUAL_ENV"] = str(venv)
    env["PATH"] = f"{venv / 'bin'}:{base.get('PATH', '/usr/bin:/bin')}"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


# --- request formats: one record per request, in each server's own format --------------------------------------

def ours_predict(record: dict[str, float]) -> HttpCall:
    return HttpCall("POST", "/predict", json.dumps({"records": [record]}).encode(), JSON)


def mlflow_predict(record: dict[str, float]) -> HttpCall:
    # dataframe_split: the orientation MLflow's docs recommend for DataFrame input.
    body = {"dataframe_split": {"columns": list(record), "data": [list(record.values())]}}
    return HttpCall("POST", "/invocations", json.dumps(body).encode(), JSON)


def bentoml_predict(record: dict[str, float]) -> HttpCall:
    # A BentoML API takes a JSON object of its parameters: here the one parameter `record`.
    return HttpCall("POST", "/predict", json.dumps({"record": record}).encode(), JSON)


def ours_probabilities(body: dict, classes: tuple[str, ...]) -> list[float]:
    return [body["predictions"][0]["probabilities"][name] for name in classes]


def mlflow_probabilities(body: dict, classes: tuple[str, ...]) -> list[float]:
    return list(body["predictions"][0])


def bentoml_probabilities(body: dict, classes: tuple[str, ...]) -> list[float]:
    return [body["probabilities"][name] for name in classes]


PROBABILITIES: dict[str, Callable[[dict, tuple[str, ...]], list[float]]] = {
    "ours": ours_probabilities, "mlflow": mlflow_probabilities, "bentoml": bentoml_probabilities,
}


# --- server plans ---------------------------------------------------------------------------------------------

def ours_plan(python: str, repository: Path, base_env: dict[str, str], model_dir: Path, log_path: Path,
              port: int, record: dict[str, float]) -> ServerPlan:
    env = dict(base_env)
    env.update({
        "MODEL_DIR": str(model_dir), "HOST": LOOPBACK, "PORT": str(port),
        # The prediction log stays on (it is part of the product), in SQLite in the scratch directory.
        "PREDICTION_LOG_PATH": str(log_path), "DATABASE_URL": "",
    })
    return ServerPlan(
        name="ours", title="ours (model_app.serve)", command=[python, "-m", "model_app.serve"], env=env,
        cwd=repository, port=port, predict=ours_predict(record), health=HttpCall("GET", "/health"), workers=1,
        startup_timeout_s=30, stop_grace_s=25, prediction_log=log_path,
        notes=["one process: uvicorn + uvloop + httptools, ONNX Runtime, prediction log on (SQLite)",
               "TCP_NODELAY: uvloop sets it on every accepted TCP connection; nothing configured"],
    )


def mlflow_plan(venv: Path, base_env: dict[str, str], model_dir: Path, scratch: Path, port: int,
                record: dict[str, float]) -> ServerPlan:
    extra = {
        "PYTHONPATH": str(NODELAY_HOOK_DIR),
        # The model was fitted on a bare array, MLflow hands it a named DataFrame: sklearn would print a
        # UserWarning to the server's log on every request.
        "PYTHONWARNINGS": "ignore:X has feature names:UserWarning",
    }
    command = [str(venv_bin(venv, "mlflow")), "models", "serve", "--model-uri", str(model_dir),
               "--env-manager", "local", "--host", LOOPBACK, "--port", str(port), "--workers", str(PEER_WORKERS)]
    return ServerPlan(
        name="mlflow", title=f"MLflow {MLFLOW.version}", command=command,
        env=peer_environment(base_env, venv, extra), cwd=scratch, port=port, predict=mlflow_predict(record),
        health=HttpCall("GET", "/ping"), workers=PEER_WORKERS, startup_timeout_s=180, stop_grace_s=20,
        notes=[f"`mlflow models serve --env-manager local --workers {PEER_WORKERS}` (uvicorn workers, FastAPI)",
               "TCP_NODELAY set on accepted sockets by a sitecustomize hook (benchmarks/peers/nodelay): with "
               "--workers, uvicorn's socket has proto 0 and asyncio leaves Nagle on, ~40 ms per request",
               "sklearn's 'X has feature names' warning silenced (PYTHONWARNINGS), else one log line per request"],
    )


def bentoml_plan(venv: Path, base_env: dict[str, str], home: Path, service_dir: Path, schema: Path, port: int,
                 record: dict[str, float]) -> ServerPlan:
    extra = {"BENTOML_HOME": str(home), "BENCH_SCHEMA_FILE": str(schema), "BENCH_WORKERS": str(PEER_WORKERS),
             "BENCH_MODEL_TAG": f"{BENTOML_MODEL_NAME}:latest"}
    command = [str(venv_bin(venv, "bentoml")), "serve", BENTOML_SERVICE, "--working-dir", str(service_dir),
               "--host", LOOPBACK, "--port", str(port)]
    return ServerPlan(
        name="bentoml", title=f"BentoML {BENTOML.version}", command=command,
        env=peer_environment(base_env, venv, extra), cwd=service_dir, port=port, predict=bentoml_predict(record),
        health=HttpCall("GET", "/healthz"), workers=PEER_WORKERS, startup_timeout_s=180, stop_grace_s=20,
        notes=[f"`bentoml serve`, @bentoml.service(workers={PEER_WORKERS}), model via bentoml.sklearn",
               "TCP_NODELAY: nothing configured; its workers rebuild the listening socket from the fd "
               "(proto 6), so asyncio sets it"],
    )
