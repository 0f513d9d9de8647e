"""What a target host may ask of the agent's registry while it pulls a release through the SSH tunnel: one image,
read-only (issue 14, defect 7: the tunnel used to expose the whole registry, deletes included, to every process on
the target for the length of the pull).

The gate answers the registry API's version check, the release's manifest by its digest, and only the blobs (config
and layers) and child manifests that this manifest names; nothing else, and no method but GET and HEAD. The rules
are data here; ci/executor/registry_gate.py serves them.
"""

import json
import re
from dataclasses import dataclass, field

READ_METHODS = ("GET", "HEAD")
_MANIFEST = re.compile(r"^/v2/(?P<repository>.+)/manifests/(?P<reference>[^/]+)$")
_BLOB = re.compile(r"^/v2/(?P<repository>.+)/blobs/(?P<digest>sha256:[0-9a-f]{64})$")
_PULL_REFERENCE = re.compile(r"^(?P<registry>[^/]+)/(?P<repository>[^@]+)@(?P<digest>sha256:[0-9a-f]{64})$")


@dataclass
class PullGate:
    repository: str
    manifests: set = field(default_factory=set)
    blobs: set = field(default_factory=set)

    @classmethod
    def for_reference(cls, pull_reference: str) -> "PullGate":
        """The gate of `<registry>/<repository>@sha256:<digest>`: that manifest, then what it names."""
        match = _PULL_REFERENCE.match(pull_reference)
        if not match:
            raise ValueError(f"not a pull by digest: {pull_reference!r}")
        return cls(match["repository"], manifests={match["digest"]})

    def decide(self, method: str, path: str) -> tuple[int, str]:
        """(0, kind) when the request may go to the registry ("ping", "manifest", "blob"), else (status, why)."""
        if method not in READ_METHODS:
            return 405, f"{method} is not allowed through the deploy's registry tunnel (read-only)"
        if path in ("/v2", "/v2/"):
            return 0, "ping"
        manifest = _MANIFEST.match(path)
        if manifest and manifest["repository"] == self.repository and manifest["reference"] in self.manifests:
            return 0, "manifest"
        blob = _BLOB.match(path)
        if blob and blob["repository"] == self.repository and blob["digest"] in self.blobs:
            return 0, "blob"
        return 403, "only the release being deployed can be read through the deploy's registry tunnel"

    def learn(self, manifest_body: bytes) -> None:
        """Allow what a served manifest names: an image manifest's config and layers, an index's manifests."""
        try:
            manifest = json.loads(manifest_body)
        except ValueError:
            return
        if not isinstance(manifest, dict):
            return
        for entry in [manifest.get("config"), *manifest.get("layers", [])]:
            if isinstance(entry, dict) and isinstance(entry.get("digest"), str):
                self.blobs.add(entry["digest"])
        for entry in manifest.get("manifests", []):
            if isinstance(entry, dict) and isinstance(entry.get("digest"), str):
                self.manifests.add(entry["digest"])


def gated_reference(pull_reference: str, gate_address: str) -> str:
    """The same image by digest, through the gate's address instead of the registry's."""
    _registry, _, rest = pull_reference.partition("/")
    return f"{gate_address}/{rest}"
