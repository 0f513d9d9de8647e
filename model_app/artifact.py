"""The model artifact on disk: an ONNX file plus metadata.json, and the integrity check between them.

ONNX is data, not code: loading it cannot execute anything, unlike a pickle. The sha256 in the
metadata proves the file is the one training produced.
"""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

ARTIFACT_FILE = "model.onnx"
METADATA_FILE = "metadata.json"


class ArtifactError(Exception):
    """The artifact is missing, unreadable or does not match its metadata."""


@dataclass(frozen=True)
class VerifiedArtifact:
    model_bytes: bytes
    metadata: dict


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_metadata(directory: Path, metadata: dict) -> Path:
    path = directory / METADATA_FILE
    path.write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n")
    return path


def read_metadata(directory: Path) -> dict:
    path = directory / METADATA_FILE
    try:
        metadata = json.loads(path.read_text())
    except FileNotFoundError:
        raise ArtifactError(f"metadata file {path} is missing") from None
    except (OSError, ValueError) as error:
        raise ArtifactError(f"metadata file {path} is unreadable: {error}") from None
    artifact = metadata.get("artifact") if isinstance(metadata, dict) else None
    expected = artifact.get("sha256") if isinstance(artifact, dict) else None
    if not isinstance(expected, str) or len(expected) != 64:
        raise ArtifactError(f"metadata file {path} has no artifact.sha256")
    return metadata


def load_verified(directory: Path) -> VerifiedArtifact:
    """Read the artifact and refuse it unless its sha256 equals the one recorded at training."""
    metadata = read_metadata(directory)
    name = metadata["artifact"].get("file", ARTIFACT_FILE)
    # The metadata names a file beside it, never a path elsewhere on the machine.
    if not isinstance(name, str) or not name or Path(name).name != name:
        raise ArtifactError(f"metadata file {directory / METADATA_FILE} names an invalid artifact file: {name!r}")
    path = directory / name
    try:
        model_bytes = path.read_bytes()
    except OSError as error:
        raise ArtifactError(f"model file {path} is unreadable: {error.strerror or error}") from None
    actual = sha256_of(model_bytes)
    expected = metadata["artifact"]["sha256"]
    if actual != expected:
        raise ArtifactError(
            f"model file {path} has sha256 {actual[:12]}…, metadata expects {expected[:12]}…: refusing to serve it"
        )
    return VerifiedArtifact(model_bytes, metadata)


def stamp_git_commit(directory: Path, commit: str) -> None:
    """Record the commit the image was built from, without retraining (keeps the training layer cached)."""
    metadata = read_metadata(directory)
    metadata["git_commit"] = commit
    write_metadata(directory, metadata)
