"""Which of the build host's trust files (CA certificates, apt sources and settings) go into the build context.

Builds behind a corporate proxy or a private mirror need the host's view of the network; these files are
not secrets, and files that carry credentials (user:password@ in a URL) are left out so that none can
end up in an image layer.
"""

import re
from pathlib import Path

TRUST_DIR = Path("docker/trust")
CREDENTIALS_IN_URL = re.compile(r"://[^/\s:@]+:[^/\s@]+@")


def trust_files(host_root: Path = Path("/")) -> dict[str, Path]:
    """Map each destination under docker/trust/ to the host file it is copied from."""
    files: dict[str, Path] = {}
    bundle = host_root / "etc/ssl/certs/ca-certificates.crt"
    if bundle.is_file():
        files["ca-certificates.crt"] = bundle
    apt = host_root / "etc/apt"
    for source in sorted((apt / "sources.list.d").glob("*")):
        if source.is_file() and source.suffix in (".list", ".sources"):
            files[f"apt/sources.list.d/{source.name}"] = source
    legacy = apt / "sources.list"
    if legacy.is_file() and legacy.read_text(errors="replace").strip():
        files["apt/sources.list.d/host-sources.list"] = legacy
    for setting in sorted((apt / "apt.conf.d").glob("*")):
        if setting.is_file() and not CREDENTIALS_IN_URL.search(setting.read_text(errors="replace")):
            files[f"apt/apt.conf.d/{setting.name}"] = setting
    for certificate in sorted((host_root / "usr/local/share/ca-certificates").glob("*.crt")):
        files[f"apt/ca/{certificate.name}"] = certificate
    return files
