#!/bin/sh
# Start a target host: fresh host keys, the deployer's public key, its own dockerd, then sshd in the foreground.
set -eu
: "${AUTHORIZED_KEYS:?AUTHORIZED_KEYS must hold the deployer's public key}"
ssh-keygen -A >/dev/null
printf '%s\n' "$AUTHORIZED_KEYS" > /root/.ssh/authorized_keys
chmod 600 /root/.ssh/authorized_keys
# A container gets its cgroup hierarchies read-only; the engine inside needs them writable. With the near-root
# powers the host was started with, mount fresh rw instances (cgroup v1) or remount the unified one (v2).
if [ -d /sys/fs/cgroup/cpuset ]; then
    for hierarchy in /sys/fs/cgroup/*/; do umount -l "$hierarchy" 2>/dev/null || true; done
    for subsystem in blkio cpu cpuacct cpuset devices freezer memory pids; do
        mkdir -p "/sys/fs/cgroup/$subsystem"
        mount -t cgroup -o "$subsystem" cgroup "/sys/fs/cgroup/$subsystem"
    done
    mkdir -p /sys/fs/cgroup/systemd
    mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd
else
    mount -o remount,rw /sys/fs/cgroup 2>/dev/null || true
fi
# Its containers' cgroups live under a parent of their own, apart from the outer engine's.
dockerd --host=unix:///var/run/docker.sock --cgroup-parent="/${CGROUP_PARENT:-mlci-target}" ${DOCKERD_FLAGS:-} \
    >/var/log/dockerd.log 2>&1 &
for _ in $(seq 1 100); do
    docker info >/dev/null 2>&1 && break
    sleep 0.2
done
docker info >/dev/null 2>&1 || { echo "dockerd did not start:" >&2; tail -20 /var/log/dockerd.log >&2; exit 1; }
echo "target host ready"
exec /usr/sbin/sshd -D -e
