"""The HTTP service as a plain ASGI application: routing, request limits, and the six endpoints.

No web framework: the serving path is where this product's speed comes from, and the routes are
few and fixed. uvicorn (with httptools and uvloop) does the HTTP.
"""

import asyncio
import logging
import os
import re
import time
from itertools import repeat

import orjson

from model_app.artifact import ArtifactError, load_verified
from model_app.openapi import build_openapi
from model_app.prediction_log import PredictionLog, PredictionRecord, store_for
from model_app.predictor import Predictor
from model_app.settings import Settings
from model_app.telemetry import Telemetry
from model_app.validation import InputError, parse_json, records_to_matrix

logger = logging.getLogger("model_app")

JSON_HEADERS = [(b"content-type", b"application/json")]
CLOSE = (b"connection", b"close")
# A body over the limit is still read (and thrown away, chunk by chunk) for up to this long before its 413:
# answering with the body still arriving makes the server close under it, and a client that sends the whole body
# before reading (Python requests, most SDKs) then sees a reset instead of the 413, the more so through HAProxy
# before 3.0, which does not drain it either. nginx's lingering close does the same, for 5 s by default.
DRAIN_SECONDS = 5.0
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class ModelService:
    def __init__(self, settings: Settings, telemetry: Telemetry | None = None):
        self.settings = settings
        self.telemetry = telemetry or Telemetry()
        self.predictor: Predictor | None = None
        self.metadata: dict = {}
        self.not_ready_reason = "model not loaded yet"
        self.prediction_log: PredictionLog | None = None
        self._class_names: tuple = ()
        self._openapi = orjson.dumps(build_openapi("model", settings.max_batch, settings.max_body_bytes))
        self._routes = {
            ("POST", "/predict"): self._predict,
            ("GET", "/health"): self._health,
            ("GET", "/ready"): self._ready,
            ("GET", "/metadata"): self._metadata,
            ("GET", "/metrics"): self._metrics,
            ("GET", "/openapi.json"): self._openapi_document,
            ("GET", "/"): self._index,
        }
        self._paths = {path for _, path in self._routes}
        self._allowed = {path: ", ".join(sorted(method for method, route in self._routes if route == path)).encode()
                         for path in self._paths}

    # Lifecycle -------------------------------------------------------------------------------

    def load_model(self) -> None:
        """Load and verify the artifact; on any failure stay alive but not ready, and say why."""
        try:
            artifact = load_verified(self.settings.model_dir)
            self.predictor = Predictor(artifact.model_bytes)
        except ArtifactError as error:
            self._refuse(str(error))
            return
        except Exception as error:  # onnxruntime rejects a file that is not a valid model
            self._refuse(f"model file could not be loaded: {error}")
            return
        self.metadata = artifact.metadata
        self._class_names = tuple(artifact.metadata.get("classes", ()))
        self._openapi = orjson.dumps(build_openapi(
            artifact.metadata.get("model_name", "model"), self.settings.max_batch, self.settings.max_body_bytes))
        self.not_ready_reason = ""
        self.telemetry.model_ready.set(1)
        self.telemetry.model_info.labels(
            model_name=artifact.metadata.get("model_name", ""), model_version=self.model_version).set(1)
        logger.info("model ready: %s %s (sha256 %s verified)", artifact.metadata.get("model_name"),
                    self.model_version, artifact.metadata["artifact"]["sha256"][:12])

    def _refuse(self, reason: str) -> None:
        self.not_ready_reason = reason
        self.telemetry.model_ready.set(0)
        logger.error("model NOT ready: %s", reason)

    @property
    def model_version(self) -> str:
        return self.metadata.get("model_version", "")

    def startup(self) -> None:
        self.load_model()
        store = store_for(self.settings.database_url, self.settings.prediction_log_path)
        self.prediction_log = PredictionLog(store, self.telemetry, self.settings.prediction_log_queue,
                                            self.settings.prediction_log_queue_bytes)
        self.prediction_log.start()

    def shutdown(self) -> None:
        if self.prediction_log is not None:
            self.prediction_log.stop(timeout=self.settings.shutdown_timeout_seconds)

    # ASGI ------------------------------------------------------------------------------------

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            await self._handle_http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._handle_lifespan(receive, send)

    async def _handle_lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.startup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _handle_http(self, scope, receive, send) -> None:
        started = time.perf_counter()
        method, path = scope["method"], scope["path"]
        handler = self._routes.get((method, path))
        if handler is None:
            status, headers, body = self._no_route(method, path)
        else:
            try:
                status, headers, body = await handler(scope, receive)
            except Exception:  # a defect, never the client's input: a JSON answer, counted, and its traceback logged
                logger.exception("%s %s failed", method, path)
                status, headers, body = 500, JSON_HEADERS, _error_body(500, None, "internal error")
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        self.telemetry.observe_request(method, path, status, time.perf_counter() - started)

    def _no_route(self, method: str, path: str) -> tuple:
        allowed = self._allowed.get(path)
        if allowed is None:
            return 404, JSON_HEADERS, _error_body(404, None, f"no such endpoint: {path}")
        # RFC 9110 §15.5.6: a 405 carries Allow, the methods the target supports.
        return 405, [*JSON_HEADERS, (b"allow", allowed)], _error_body(
            405, None, f"method {method} is not allowed on {path}")

    # Endpoints -------------------------------------------------------------------------------

    async def _predict(self, scope, receive):
        started = time.perf_counter()
        content_type, content_length, supplied_id = _predict_headers(scope)
        request_id = _request_id(supplied_id)
        headers = [*JSON_HEADERS, (b"x-request-id", request_id.encode())]
        try:
            body = await self._read_json_body(content_type, content_length, receive)
            payload = parse_json(body)
            matrix = records_to_matrix(payload, self.settings.max_batch)
        except BodyLeftUnread as error:  # the client is still sending: the connection cannot serve another request
            return error.status, [*headers, CLOSE], orjson.dumps(error.as_body())
        except InputError as error:
            return error.status, headers, orjson.dumps(error.as_body())
        if self.predictor is None:
            return 503, headers, _error_body(503, None, f"model not ready: {self.not_ready_reason}")
        labels, probabilities = self.predictor.predict(matrix)
        predictions = self._format_predictions(labels, probabilities)
        self.telemetry.count_predictions(labels)
        response = orjson.dumps(
            {"request_id": request_id, "model_version": self.model_version, "predictions": predictions}
        )
        if self.prediction_log is not None:
            self.prediction_log.submit(PredictionRecord(
                request_id, time.time(), self.model_version, payload["records"], predictions,
                round((time.perf_counter() - started) * 1000, 3),
            ))
        return 200, headers, response

    def _format_predictions(self, labels, probabilities) -> list:
        names = self._class_names
        return [
            {"label": names[label], "probabilities": dict(zip(names, map(round, row, repeat(6))))}
            for label, row in zip(labels.tolist(), probabilities.tolist())
        ]

    async def _read_json_body(self, content_type: bytes, declared: bytes, receive) -> bytes:
        if content_type.split(b";")[0].strip().lower() != b"application/json":
            shown = content_type.decode("latin-1") or "none"
            raise InputError(415, "content-type", f"content-type must be application/json, got {shown}")
        limit = self.settings.max_body_bytes
        if declared.isdigit() and int(declared) > limit:
            await _discard_body(receive, InputError(
                413, None, f"request body of {int(declared)} bytes is over the limit of {limit} bytes"))
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise InputError(400, None, "client disconnected before sending the whole body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                more = message.get("more_body", False)
                error = InputError(413, None, f"request body is over the limit of {limit} bytes")
                if more:
                    await _discard_body(receive, error)
                raise error
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _health(self, scope, receive):
        return 200, JSON_HEADERS, b'{"status":"ok"}'

    async def _ready(self, scope, receive):
        if self.predictor is None:
            return 503, JSON_HEADERS, orjson.dumps({"status": "not ready", "reason": self.not_ready_reason})
        return 200, JSON_HEADERS, orjson.dumps(
            {"status": "ready", "model_version": self.model_version, "release": self.settings.release_id})

    async def _metadata(self, scope, receive):
        if self.predictor is None:
            return 503, JSON_HEADERS, _error_body(503, None, f"model not ready: {self.not_ready_reason}")
        return 200, JSON_HEADERS, orjson.dumps(self.metadata)

    async def _metrics(self, scope, receive):
        return 200, [(b"content-type", self.telemetry.content_type.encode())], self.telemetry.render()

    async def _openapi_document(self, scope, receive):
        return 200, JSON_HEADERS, self._openapi

    async def _index(self, scope, receive):
        return 200, JSON_HEADERS, orjson.dumps(
            {"service": self.metadata.get("model_name", "model"), "endpoints": sorted(self._paths)})


class BodyLeftUnread(InputError):
    """A refusal sent while the client was still sending its body (DRAIN_SECONDS ran out)."""


async def _discard_body(receive, error: InputError) -> None:
    """Read the rest of the request body, keeping none of it, for up to DRAIN_SECONDS; then raise `error`, as a
    BodyLeftUnread when the body had not ended by then (or the client went away)."""
    deadline = time.monotonic() + DRAIN_SECONDS
    while time.monotonic() < deadline:
        try:
            message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            break
        if message["type"] == "http.disconnect":
            break
        if not message.get("more_body", False):
            raise error
    raise BodyLeftUnread(error.status, error.field, error.message)


def _predict_headers(scope) -> tuple[bytes, bytes, bytes]:
    """Content-type, content-length and x-request-id in one pass; the first of each counts, b"" when absent."""
    content_type = content_length = request_id = None
    for key, value in scope["headers"]:
        if key == b"content-type":
            content_type = value if content_type is None else content_type
        elif key == b"content-length":
            content_length = value if content_length is None else content_length
        elif key == b"x-request-id":
            request_id = value if request_id is None else request_id
    return content_type or b"", content_length or b"", request_id or b""


def _request_id(supplied: bytes) -> str:
    if supplied:
        text = supplied.decode("latin-1")
        if _CLIENT_REQUEST_ID.fullmatch(text):
            return text
    # 128 random bits as 32 hex digits, the shape of a uuid4().hex at a quarter of its cost.
    return os.urandom(16).hex()


def _error_body(status: int, field: str | None, message: str) -> bytes:
    return orjson.dumps({"error": {"status": status, "field": field, "message": message}})
