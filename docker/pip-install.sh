#!/bin/sh
# Create a virtual environment and install exactly the pinned requirements into it.
# Used by the image's build stages; trusts the build host's CA bundle when `python -m ci build` provided one,
# so pip works behind TLS-inspecting proxies and private mirrors.
set -eu
venv="$1"
requirements="$2"
if [ -s /opt/build-trust/ca-certificates.crt ]; then
    export PIP_CERT=/opt/build-trust/ca-certificates.crt
fi
python3 -m venv "$venv"
# --require-hashes: every file pip downloads must match a sha256 of its pin (ci/requirements_lock.py).
"$venv/bin/pip" install --no-cache-dir --disable-pip-version-check --require-hashes --no-deps -r "$requirements"
# pip itself is not needed once the environment is built.
"$venv/bin/pip" uninstall --yes --quiet pip setuptools >/dev/null 2>&1 || true
