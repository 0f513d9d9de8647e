"""The model image's software bill of materials: a CycloneDX 1.6 document of its Python environment and its OS
packages, written by `ci build` as reports/sbom.cdx.json (issue 14). Built with CycloneDX's own library
(cyclonedx-python-lib), from what the image itself reports: INVENTORY_SCRIPT below, which `ci build` runs in the
image (ci/executor/docker_engine.py run_in_image).
"""

import uuid
import warnings
from datetime import datetime

from cyclonedx.model import HashAlgorithm, HashType
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

SBOM_REPORT = "sbom.cdx.json"

# Run inside the image (its own interpreter, no network): every installed distribution and the dpkg database.
INVENTORY_SCRIPT = """
import importlib.metadata, json, pathlib, sys
status = pathlib.Path("/var/lib/dpkg/status")
json.dump({"python": sorted({(d.metadata["Name"], d.version) for d in importlib.metadata.distributions()
                             if d.metadata["Name"]}),
           "dpkg_status": status.read_text(errors="replace") if status.exists() else ""}, sys.stdout)
"""


def parse_dpkg_status(text: str) -> list[tuple[str, str, str]]:
    """(package, version, architecture) of every package dpkg says is installed."""
    packages = []
    for stanza in text.split("\n\n"):
        fields = {}
        for line in stanza.splitlines():
            if line and not line[0].isspace() and ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if fields.get("Status", "").endswith(" installed") and fields.get("Package") and fields.get("Version"):
            packages.append((fields["Package"], fields["Version"], fields.get("Architecture", "")))
    return sorted(packages)


def sbom_json(image: dict, python_packages: list, os_packages: list, created: datetime) -> str:
    """image: {"name", "version", "image_id"}; python_packages: (name, version); os_packages: (name, version, arch)."""
    # The serial number follows from the image and its contents: the same image, the same document.
    identity = f"mlci-sbom:{image['image_id']}:{sorted(map(tuple, python_packages))}:{sorted(os_packages)}"
    bom = Bom(serial_number=uuid.uuid5(uuid.NAMESPACE_URL, identity))
    bom.metadata.timestamp = created
    root = Component(type=ComponentType.CONTAINER, name=image["name"], version=image["version"], bom_ref="image",
                     hashes=[HashType(alg=HashAlgorithm.SHA_256, content=image["image_id"].removeprefix("sha256:"))])
    bom.metadata.component = root
    components = []
    for name, version in sorted(set(map(tuple, python_packages)), key=lambda pair: pair[0].lower()):
        purl = PackageURL("pypi", None, name.lower(), version)
        components.append(Component(type=ComponentType.LIBRARY, name=name, version=version, purl=purl,
                                    bom_ref=purl.to_string()))
    for name, version, arch in os_packages:
        purl = PackageURL("deb", "debian", name, version, {"arch": arch} if arch else None)
        components.append(Component(type=ComponentType.LIBRARY, name=name, version=version, purl=purl,
                                    bom_ref=purl.to_string()))
    for component in components:
        bom.components.add(component)
    bom.register_dependency(root, components)
    with warnings.catch_warnings():  # the library warns about graphs of its own making; this one is complete
        warnings.simplefilter("ignore")
        return JsonV1Dot6(bom).output_as_string(indent=2)
