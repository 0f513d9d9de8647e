"""Shared fixtures for the model_app unit tests: a trained model (trained once per session),
an in-process ASGI driver, a running ModelService and real rows of the breast-cancer dataset."""

import asyncio
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from model_app.app import ModelService
from model_app.artifact import METADATA_FILE
from model_app.features import FEATURE_NAMES
from model_app.settings import Settings
from model_app.train import main as train_main

TRAIN_COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass(frozen=True)
class TrainedModels:
    first: Path   # the first training run
    second: Path  # an independent second run of the same recipe
    git_commit: str  # the commit both runs were told to record

    @property
    def metadata(self) -> dict:
        return json.loads((self.first / METADATA_FILE).read_text())


@pytest.fixture(scope="session")
def trained_models(tmp_path_factory) -> TrainedModels:
    """Train twice, through the real CLI entry point, into two separate directories."""
    root = tmp_path_factory.mktemp("trained")
    first, second = root / "first", root / "second"
    for directory in (first, second):
        assert train_main(["--out", str(directory), "--git-commit", TRAIN_COMMIT]) == 0
    return TrainedModels(first, second, TRAIN_COMMIT)


@pytest.fixture
def model_dir(trained_models, tmp_path):
    """A private copy of the trained artifact that a test may tamper with."""
    directory = tmp_path / "model"
    shutil.copytree(trained_models.first, directory)
    return directory


@dataclass(frozen=True)
class Dataset:
    records: list
    labels: list
    data: object  # the float64 (569, 30) numpy matrix


@pytest.fixture(scope="session")
def dataset():
    """Real rows of the bundled breast-cancer data as API records, with their true labels."""
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    records = [{name: float(value) for name, value in zip(FEATURE_NAMES, row)} for row in bunch.data]
    return Dataset(records=records, labels=[int(label) for label in bunch.target], data=bunch.data)


# In-process ASGI driver -------------------------------------------------------------------------

@dataclass
class Response:
    status: int
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)


class AsgiClient:
    """Drive HTTP requests through an ASGI app in-process with asyncio: no network, no server."""

    def __init__(self, app):
        self.app = app

    def request(self, method: str, path: str, body: bytes = b"", headers=(), chunks=None) -> Response:
        """`chunks` (a list of bytes) sends the body in several http.request messages with more_body.
        Header names are lower-case str or bytes, as an ASGI server passes them."""
        parts = list(chunks) if chunks is not None else [body]
        messages = [
            {"type": "http.request", "body": part, "more_body": index < len(parts) - 1}
            for index, part in enumerate(parts)
        ]
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "scheme": "http",
            "method": method, "path": path, "raw_path": path.encode(), "query_string": b"",
            "headers": [(_as_bytes(key).lower(), _as_bytes(value)) for key, value in headers],
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
        }
        sent = []

        async def receive():
            if messages:
                return messages.pop(0)
            return {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)

        asyncio.run(self.app(scope, receive, send))
        assert [message["type"] for message in sent] == ["http.response.start", "http.response.body"]
        start, body_message = sent
        return Response(
            status=start["status"],
            headers={key.decode("latin-1"): value.decode("latin-1") for key, value in start["headers"]},
            body=body_message["body"],
        )

    def get(self, path: str, headers=()) -> Response:
        return self.request("GET", path, headers=headers)

    def post_json(self, payload, path: str = "/predict", headers=()) -> Response:
        """POST a JSON body (a Python object, or raw bytes sent as they are) with its content-length."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return self.request("POST", path, body, headers=[
            ("content-type", "application/json"), ("content-length", str(len(body))), *headers])


def _as_bytes(value) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode("latin-1")


def make_service(model_dir, tmp_path) -> ModelService:
    return ModelService(Settings(
        model_dir=model_dir,
        prediction_log_path=tmp_path / "log" / "predictions.sqlite",
        max_batch=8,
        max_body_bytes=4096,
        shutdown_timeout_seconds=5,
    ))


@pytest.fixture
def service(model_dir, tmp_path):
    """A started ModelService over a private copy of the trained model; shut down afterwards."""
    app = make_service(model_dir, tmp_path)
    app.startup()
    yield app
    app.shutdown()


@pytest.fixture
def client(service) -> AsgiClient:
    return AsgiClient(service)


@pytest.fixture
def tampered_client(model_dir, tmp_path):
    """A client of a started ModelService whose model file had one byte flipped after training."""
    flip_one_byte(model_dir / "model.onnx")
    app = make_service(model_dir, tmp_path)
    app.startup()
    yield AsgiClient(app)
    app.shutdown()


def flip_one_byte(path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.fixture
def flip_byte():
    """flip_byte(path): invert one byte in the middle of a file."""
    return flip_one_byte


@pytest.fixture
def make_client():
    """make_client(app) -> AsgiClient, for an app a test builds itself."""
    return AsgiClient
