"""Serve a PullGate (ci/registry_gate.py) on the agent's loopback in front of its registry, for one pull."""

import contextlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import requests

from ci.registry_gate import PullGate

# What a pull sends and reads back; every other header stays on its side.
REQUEST_HEADERS = ("Accept", "Range")
RESPONSE_HEADERS = ("Content-Type", "Content-Length", "Docker-Content-Digest", "Docker-Distribution-Api-Version",
                    "Content-Range", "Accept-Ranges", "ETag")
CHUNK = 1 << 20


def _handler(upstream: str, gate: PullGate, lock: threading.Lock):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # the deploy's own output says what happened
            pass

        def _answer(self) -> None:
            path = self.path.split("?", 1)[0]
            with lock:
                status, kind = gate.decide(self.command, path)
            if status:
                body = kind.encode() + b"\n"
                self.send_response(status)
                if status == 405:
                    self.send_header("Allow", "GET, HEAD")
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            headers = {name: self.headers[name] for name in REQUEST_HEADERS if self.headers.get(name)}
            with requests.request(self.command, f"http://{upstream}{path}", headers=headers, stream=True,
                                  timeout=60, allow_redirects=True) as response:
                self.send_response(response.status_code)
                for name in RESPONSE_HEADERS:
                    if name in response.headers:
                        self.send_header(name, response.headers[name])
                self.end_headers()
                if self.command == "HEAD":
                    return
                if kind == "manifest" and response.ok:
                    body = response.content
                    with lock:
                        gate.learn(body)
                    self.wfile.write(body)
                    return
                for chunk in response.iter_content(CHUNK):
                    self.wfile.write(chunk)

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

    return Handler


@contextlib.contextmanager
def serving_gate(upstream: str, gate: PullGate) -> Iterator[str]:
    """Yields the gate's address (127.0.0.1:<free port>) while it serves; stopped on the way out."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(upstream, gate, threading.Lock()))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="registry-gate", daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
