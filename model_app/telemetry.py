"""Prometheus metrics of the service, in a registry of its own so tests can create fresh ones."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from model_app.features import CLASS_NAMES

KNOWN_PATHS = frozenset({"/predict", "/health", "/ready", "/metadata", "/metrics", "/openapi.json", "/"})
# *_created series double the output and no dashboard here uses them.
disable_created_metrics()

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Telemetry:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests", "HTTP requests by method, path and status.",
            ["method", "path", "status"], registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds", "Time from request start to response sent.",
            ["path"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.predictions = Counter(
            "model_predictions", "Predicted records by class.", ["class_name"], registry=self.registry,
        )
        self.model_ready = Gauge("model_ready", "1 when the model is loaded and verified.", registry=self.registry)
        self.model_info = Gauge(
            "model_info", "The served model.", ["model_name", "model_version"], registry=self.registry,
        )
        self.log_written = Counter(
            "prediction_log_written", "Predictions written to the prediction log.", registry=self.registry,
        )
        self.log_failures = Counter(
            "prediction_log_write_failures", "Failed attempts to write to the prediction log.", registry=self.registry,
        )
        self.log_dropped = Counter(
            "prediction_log_dropped", "Predictions not logged: the queue was full (rows or bytes), or a value was "
            "one the store cannot hold.", ["reason"], registry=self.registry,
        )
        self.log_queue_depth = Gauge(
            "prediction_log_queue_depth", "Predictions waiting to be written.", registry=self.registry,
        )
        self.log_queue_bytes = Gauge(
            "prediction_log_queue_bytes", "Bytes of predictions held until the store has them.", registry=self.registry,
        )
        self.log_store_up = Gauge(
            "prediction_log_store_up", "1 when the last connect or write to the store succeeded, 0 after a failure.",
            registry=self.registry,
        )
        # Pre-create the children so every series shows from the first scrape, at zero.
        self._class_counters = [self.predictions.labels(class_name=name) for name in CLASS_NAMES]
        for reason in ("queue_full", "unstorable"):
            self.log_dropped.labels(reason=reason)
        self._request_series: dict[tuple[str, str, int], tuple] = {}

    def observe_request(self, method: str, path: str, status: int, seconds: float) -> None:
        path = path if path in KNOWN_PATHS else "other"
        try:
            counter, histogram = self._request_series[method, path, status]
        except KeyError:  # the first request of its kind: resolve its series once (labels() locks and hashes)
            counter = self.requests.labels(method=method, path=path, status=str(status))
            histogram = self.latency.labels(path=path)
            self._request_series[method, path, status] = counter, histogram
        counter.inc()
        histogram.observe(seconds)

    def count_predictions(self, labels) -> None:
        for label in labels:
            self._class_counters[int(label)].inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
