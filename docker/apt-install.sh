#!/bin/sh
# Install Debian packages in an image build, reaching the package mirror exactly as the build host does:
# its apt sources, apt settings and local CA certificates, which `python -m ci build` copies into
# docker/trust/apt/ (corporate mirrors, TLS-inspecting proxies). Services are never started.
# The host's sources and settings are used for this install only: the base's own apt configuration is put back
# afterwards, so that what the image ships names none of the build host's mirrors or proxies.
set -eu
trust=/opt/build-trust/apt
saved=$(mktemp -d)
cp -a /etc/apt/. "$saved"/
if ls "$trust"/sources.list.d/* >/dev/null 2>&1; then
    rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*
    cp "$trust"/sources.list.d/* /etc/apt/sources.list.d/
fi
if ls "$trust"/apt.conf.d/* >/dev/null 2>&1; then
    cp "$trust"/apt.conf.d/* /etc/apt/apt.conf.d/
fi
if ls "$trust"/ca/*.crt >/dev/null 2>&1; then
    mkdir -p /usr/local/share/ca-certificates
    cp "$trust"/ca/*.crt /usr/local/share/ca-certificates/
fi
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod +x /usr/sbin/policy-rc.d
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
apt-get clean
rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d
# The base's sources and settings back, and those the packages just installed (their own apt.conf.d files) kept.
if ls "$trust"/sources.list.d/* >/dev/null 2>&1; then
    for copied in "$trust"/sources.list.d/*; do rm -f "/etc/apt/sources.list.d/$(basename "$copied")"; done
fi
if ls "$trust"/apt.conf.d/* >/dev/null 2>&1; then
    for copied in "$trust"/apt.conf.d/*; do rm -f "/etc/apt/apt.conf.d/$(basename "$copied")"; done
fi
cp -a "$saved"/. /etc/apt/
rm -rf "$saved"
