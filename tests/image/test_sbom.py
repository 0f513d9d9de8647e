"""The SBOM `ci build` wrote (reports/sbom.cdx.json) against the image it describes: valid CycloneDX naming the
image by id, every pinned serving requirement at its pinned version, and the image's OS packages."""

import json
from pathlib import Path

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from ci.requirements_lock import normalized, pins

ROOT = Path(__file__).resolve().parents[2]


def test_the_sbom_describes_the_built_image_and_everything_pinned_in_it():
    build = json.loads((ROOT / "reports/build.json").read_text())
    text = (ROOT / build["sbom"]["path"]).read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    sbom = json.loads(text)
    image_id = build["images"]["model"]["image_id"]
    assert sbom["metadata"]["component"]["hashes"][0]["content"] == image_id.removeprefix("sha256:")
    python = {normalized(c["name"]): c["version"] for c in sbom["components"] if c["purl"].startswith("pkg:pypi/")}
    serve = {normalized(name): version for name, version, _ in pins((ROOT / "requirements/serve.txt").read_text())}
    assert python == serve  # exactly the pinned serving environment: nothing more, nothing less
    debs = {c["name"] for c in sbom["components"] if c["purl"].startswith("pkg:deb/debian/")}
    assert {"libc6", "libssl3"} <= debs
    assert build["sbom"]["os_packages"] == len(debs) > 50
