"""Which of the build host's trust files (CA certificates, apt sources and settings) go into the build context.

Builds behind a corporate proxy or a private mirror need the host's view of the network; these files are
not secrets, and a file that carries a credential (any user:password@ or token@ in a URL, whatever the password
holds) is left out, sources and settings alike, so that none can end up in an image layer. (The images that
install packages also leave the copied files out of what they ship: docker/apt-install.sh restores the base's
apt configuration, and those images are flattened, so the layer holding docker/trust/ is not in them.)
"""

import re
from pathlib import Path

TRUST_DIR = Path("docker/trust")
# A URL's userinfo: `scheme://user[:password]@`. The user part stops at the first '/' (the path begins), the
# password may hold anything but whitespace, quotes and '@' ('/' too: http://ci:pa/ss@proxy is a password).
CREDENTIALS_IN_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s/@\"']+(?::[^\s@\"']*)?@")


def carries_credentials(text: str) -> bool:
    return bool(CREDENTIALS_IN_URL.search(text))


def _shareable(path: Path) -> bool:
    return path.is_file() and not carries_credentials(path.read_text(errors="replace"))


def trust_files(host_root: Path = Path("/")) -> dict[str, Path]:
    """Map each destination under docker/trust/ to the host file it is copied from."""
    files: dict[str, Path] = {}
    bundle = host_root / "etc/ssl/certs/ca-certificates.crt"
    if bundle.is_file():
        files["ca-certificates.crt"] = bundle
    apt = host_root / "etc/apt"
    for source in sorted((apt / "sources.list.d").glob("*")):
        if source.suffix in (".list", ".sources") and _shareable(source):
            files[f"apt/sources.list.d/{source.name}"] = source
    legacy = apt / "sources.list"
    if _shareable(legacy) and legacy.read_text(errors="replace").strip():
        files["apt/sources.list.d/host-sources.list"] = legacy
    for setting in sorted((apt / "apt.conf.d").glob("*")):
        if _shareable(setting):
            files[f"apt/apt.conf.d/{setting.name}"] = setting
    for certificate in sorted((host_root / "usr/local/share/ca-certificates").glob("*.crt")):
        files[f"apt/ca/{certificate.name}"] = certificate
    return files
