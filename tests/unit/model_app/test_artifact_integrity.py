"""Artifact integrity (model_app/artifact.py): only the exact bytes training produced are accepted."""

import hashlib
import json

import pytest

from model_app.artifact import ArtifactError, load_verified


def rewrite_metadata(directory, change) -> None:
    path = directory / "metadata.json"
    metadata = json.loads(path.read_text())
    change(metadata)
    path.write_text(json.dumps(metadata))


def test_good_artifact_is_accepted_with_its_bytes_and_metadata(model_dir):
    artifact = load_verified(model_dir)
    model_bytes = (model_dir / "model.onnx").read_bytes()
    assert artifact.model_bytes == model_bytes
    assert artifact.metadata["artifact"]["sha256"] == hashlib.sha256(model_bytes).hexdigest()
    assert artifact.metadata == json.loads((model_dir / "metadata.json").read_text())


def test_one_flipped_byte_is_refused_naming_sha256(model_dir, flip_byte):
    flip_byte(model_dir / "model.onnx")
    with pytest.raises(ArtifactError, match="sha256") as raised:
        load_verified(model_dir)
    assert "refusing" in str(raised.value)


def test_appended_byte_is_refused(model_dir):
    with open(model_dir / "model.onnx", "ab") as model_file:
        model_file.write(b"\0")
    with pytest.raises(ArtifactError, match="sha256"):
        load_verified(model_dir)


def test_missing_model_file_is_refused(model_dir):
    (model_dir / "model.onnx").unlink()
    with pytest.raises(ArtifactError, match="model file .*model.onnx.* unreadable"):
        load_verified(model_dir)


def test_missing_metadata_is_refused(model_dir):
    (model_dir / "metadata.json").unlink()
    with pytest.raises(ArtifactError, match="metadata file .* is missing"):
        load_verified(model_dir)


def test_missing_directory_is_refused(tmp_path):
    with pytest.raises(ArtifactError, match="missing"):
        load_verified(tmp_path / "does-not-exist")


@pytest.mark.parametrize("change", [
    pytest.param(lambda metadata: metadata["artifact"].pop("sha256"), id="no-sha256"),
    pytest.param(lambda metadata: metadata.pop("artifact"), id="no-artifact-section"),
    pytest.param(lambda metadata: metadata["artifact"].update(sha256="abc123"), id="short-sha256"),
    pytest.param(lambda metadata: metadata["artifact"].update(sha256=None), id="null-sha256"),
    pytest.param(lambda metadata: metadata.update(artifact="model.onnx"), id="artifact-not-an-object"),
])
def test_metadata_without_a_valid_artifact_sha256_is_refused(model_dir, change):
    rewrite_metadata(model_dir, change)
    with pytest.raises(ArtifactError, match="has no artifact.sha256"):
        load_verified(model_dir)


@pytest.mark.parametrize("text", ["{not json", "", "[1, 2, 3]", "null"])
def test_unparsable_or_non_object_metadata_is_refused(model_dir, text):
    (model_dir / "metadata.json").write_text(text)
    with pytest.raises(ArtifactError, match="metadata file"):
        load_verified(model_dir)


def test_metadata_that_is_not_utf8_is_refused(model_dir):
    (model_dir / "metadata.json").write_bytes(b"\xff\xfe\x00{")
    with pytest.raises(ArtifactError, match="unreadable"):
        load_verified(model_dir)


def test_sha256_of_another_artifact_is_refused(model_dir):
    rewrite_metadata(model_dir, lambda metadata: metadata["artifact"].update(sha256="0" * 64))
    with pytest.raises(ArtifactError, match="metadata expects 000000000000"):
        load_verified(model_dir)


@pytest.mark.parametrize("name", ["../metadata.json", "/etc/passwd", "sub/model.onnx", "", 7])
def test_metadata_cannot_point_outside_the_model_directory(model_dir, name):
    def change(metadata):
        metadata["artifact"]["file"] = name

    rewrite_metadata(model_dir, change)
    with pytest.raises(ArtifactError, match="invalid artifact file"):
        load_verified(model_dir)
