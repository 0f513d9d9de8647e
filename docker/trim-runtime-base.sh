#!/bin/sh
# Trim the base image to what a Python service runs with: no package manager front-ends and their TLS and
# signature stack, no Perl, docs, locales, charset converters, bundled pip/setuptools wheels, build-only
# parts of the standard library, or the few util-linux tools that only make sense on a host (they pull in
# libsystemd). The dpkg database stays, so image scanners still see which packages the image holds.
# Ends by checking that every remaining program and stdlib extension still finds all its libraries.
set -eu
rm -rf /usr/share/doc /usr/share/man /usr/share/info /usr/share/locale /usr/share/python-wheels \
       /usr/share/perl5 /usr/share/perl /usr/lib/*-linux-gnu/perl-base /usr/lib/*-linux-gnu/perl \
       /usr/bin/perl /usr/bin/perl5.* /usr/lib/*-linux-gnu/gconv \
       /usr/bin/apt /usr/bin/apt-* /usr/lib/apt /var/lib/apt /var/cache/apt /usr/bin/gpgv \
       /usr/bin/logger /usr/bin/lslogins /usr/bin/findmnt /usr/bin/lsblk \
       /var/cache/debconf/*-old /var/log/*
for library in libapt-pkg libapt-private libgnutls libp11-kit libtasn1 libnettle libhogweed libidn2 \
               libunistring libgcrypt libgpg-error libsystemd libudev libxxhash liblz4 libdb-5.3; do
    rm -f /usr/lib/*-linux-gnu/"$library".so*
done
for stdlib in /usr/lib/python3.* /usr/local/lib/python3.*; do
    [ -d "$stdlib" ] || continue
    rm -rf "$stdlib"/lib2to3 "$stdlib"/pydoc_data "$stdlib"/ensurepip "$stdlib"/idlelib "$stdlib"/tkinter \
           "$stdlib"/turtledemo "$stdlib"/distutils "$stdlib"/test "$stdlib"/unittest \
           "$stdlib"/lib-dynload/_dbm.* "$stdlib"/lib-dynload/_test*.so "$stdlib"/lib-dynload/_ctypes_test.* \
           "$stdlib"/lib-dynload/xxlimited*.so "$stdlib"/lib-dynload/_tkinter.*
done
broken=""
for program in /usr/bin/* /usr/sbin/* /usr/local/bin/* /usr/lib/python3.*/lib-dynload/*.so \
               /usr/local/lib/python3.*/lib-dynload/*.so; do
    [ -f "$program" ] || continue
    if ldd "$program" 2>/dev/null | grep -q "not found"; then
        broken="$broken $program"
    fi
done
if [ -n "$broken" ]; then
    echo "trim-runtime-base: these lost a library they need:$broken" >&2
    exit 1
fi
