"""The image's SBOM (ci/sbom.py): a valid CycloneDX 1.6 document naming every Python distribution and OS package."""

import json
from datetime import datetime, timezone

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from ci.sbom import parse_dpkg_status, sbom_json

STATUS = """Package: libc6
Status: install ok installed
Architecture: amd64
Version: 2.36-9+deb12u13
Description: GNU C Library
 a continuation line: Version: 9.9

Package: removed-one
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0

Package: tzdata
Status: install ok installed
Architecture: all
Version: 2025b-0+deb12u2
"""
IMAGE = {"name": "ml-model-service", "version": "0c89f6af6c8e", "image_id": "sha256:" + "ab" * 32}


def test_only_installed_packages_are_read_from_the_dpkg_database():
    assert parse_dpkg_status(STATUS) == [("libc6", "2.36-9+deb12u13", "amd64"), ("tzdata", "2025b-0+deb12u2", "all")]


def test_the_sbom_is_valid_cyclonedx_and_names_each_component_by_purl():
    document = sbom_json(IMAGE, [("onnxruntime", "1.32.0"), ("PyYAML", "6.0.4")], parse_dpkg_status(STATUS),
                         datetime(2026, 1, 2, tzinfo=timezone.utc))
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(document) is None
    bom = json.loads(document)
    assert bom["metadata"]["component"]["name"] == "ml-model-service"
    assert bom["metadata"]["component"]["hashes"] == [{"alg": "SHA-256", "content": "ab" * 32}]
    assert {component["purl"] for component in bom["components"]} == {
        "pkg:pypi/onnxruntime@1.32.0", "pkg:pypi/pyyaml@6.0.4",
        "pkg:deb/debian/libc6@2.36-9%2Bdeb12u13?arch=amd64", "pkg:deb/debian/tzdata@2025b-0%2Bdeb12u2?arch=all"}
    root = next(entry for entry in bom["dependencies"] if entry["ref"] == "image")
    assert len(root["dependsOn"]) == 4


def test_the_same_inputs_give_the_same_document():
    args = (IMAGE, [("numpy", "2.4.6")], [], datetime(2026, 1, 2, tzinfo=timezone.utc))
    assert sbom_json(*args) == sbom_json(*args)
