"""The registry tunnel's gate (ci/registry_gate.py, served by ci/executor/registry_gate.py) in front of a stand-in
registry on loopback: a target host reads the release being deployed and nothing else, and changes nothing
(issue 14, defect 7: the whole registry, deletes enabled, was open to every process on the target for the pull)."""

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from ci.executor.registry_gate import serving_gate
from ci.registry_gate import PullGate, gated_reference


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


CONFIG, LAYER, OTHER_LAYER = b'{"architecture":"amd64"}', b"layer-bytes" * 1000, b"someone-else's-layer"
MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                       "config": {"digest": digest(CONFIG)}, "layers": [{"digest": digest(LAYER)}]}).encode()
OTHER_MANIFEST = json.dumps({"schemaVersion": 2, "layers": [{"digest": digest(OTHER_LAYER)}]}).encode()


@pytest.fixture
def registry():
    """A stand-in registry: two repositories' manifests and blobs by digest; it records every request it gets."""
    objects = {f"/v2/team/model/manifests/{digest(MANIFEST)}": MANIFEST,
               f"/v2/team/model/manifests/{digest(OTHER_MANIFEST)}": OTHER_MANIFEST,
               f"/v2/team/model/blobs/{digest(CONFIG)}": CONFIG, f"/v2/team/model/blobs/{digest(LAYER)}": LAYER,
               f"/v2/team/model/blobs/{digest(OTHER_LAYER)}": OTHER_LAYER, "/v2/": b"{}"}
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _serve(self):
            seen.append((self.command, self.path))
            body = objects.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.send_header("Docker-Content-Digest", digest(body or b""))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body or b"")

        do_GET = do_HEAD = do_DELETE = do_PUT = _serve

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def test_the_release_being_pulled_is_served_and_nothing_else(registry):
    upstream, seen = registry
    reference = f"{upstream}/team/model@{digest(MANIFEST)}"
    with serving_gate(upstream, PullGate.for_reference(reference)) as gate:
        base = f"http://{gate}"
        assert gated_reference(reference, gate) == f"{gate}/team/model@{digest(MANIFEST)}"
        assert requests.get(f"{base}/v2/", timeout=5).status_code == 200
        # A blob before its manifest was served: not yet known to belong to the release.
        assert requests.get(f"{base}/v2/team/model/blobs/{digest(LAYER)}", timeout=5).status_code == 403
        manifest = requests.get(f"{base}/v2/team/model/manifests/{digest(MANIFEST)}", timeout=5)
        assert (manifest.status_code, manifest.content) == (200, MANIFEST)
        assert manifest.headers["Docker-Content-Digest"] == digest(MANIFEST)
        assert requests.get(f"{base}/v2/team/model/blobs/{digest(LAYER)}", timeout=5).content == LAYER
        assert requests.head(f"{base}/v2/team/model/blobs/{digest(CONFIG)}", timeout=5).status_code == 200
        refused = {
            "another image": requests.get(f"{base}/v2/team/model/manifests/{digest(OTHER_MANIFEST)}", timeout=5),
            "another image's layer": requests.get(f"{base}/v2/team/model/blobs/{digest(OTHER_LAYER)}", timeout=5),
            "a tag": requests.get(f"{base}/v2/team/model/manifests/latest", timeout=5),
            "the catalog": requests.get(f"{base}/v2/_catalog", timeout=5),
            "the tags": requests.get(f"{base}/v2/team/model/tags/list", timeout=5),
            "another repository": requests.get(f"{base}/v2/other/manifests/{digest(MANIFEST)}", timeout=5),
        }
        assert {why: answer.status_code for why, answer in refused.items()} == dict.fromkeys(refused, 403)
        for method in ("DELETE", "PUT", "POST", "PATCH"):
            answer = requests.request(method, f"{base}/v2/team/model/manifests/{digest(MANIFEST)}", timeout=5)
            assert (answer.status_code, answer.headers["Allow"]) == (405, "GET, HEAD"), method
    assert all(method in ("GET", "HEAD") for method, _ in seen)  # nothing else ever reached the registry
    assert not any("_catalog" in path or "OTHER" in path for _, path in seen)
    assert f"/v2/team/model/blobs/{digest(OTHER_LAYER)}" not in {path for _, path in seen}


def test_a_reference_that_is_not_by_digest_is_refused():
    with pytest.raises(ValueError, match="not a pull by digest"):
        PullGate.for_reference("127.0.0.1:5000/team/model:latest")
