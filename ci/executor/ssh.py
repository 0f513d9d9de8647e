"""Run commands on a target host over SSH (the system OpenSSH client, one multiplexed connection per host)."""

import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from ci.errors import CannotRun
from ci.ssh_plan import HostAddress, close_master_command, reverse_forward_command, ssh_command, ssh_options

HOST_KEY_REFUSED = ("Host key verification failed", "REMOTE HOST IDENTIFICATION HAS CHANGED",
                    "No ED25519 host key is known", "host key for")


class RemoteCommandFailed(CannotRun):
    def __init__(self, host: HostAddress, argv: Sequence[str], returncode: int, stderr: str):
        super().__init__(f"{host}: `{' '.join(argv)[:120]}` failed (exit {returncode}): {stderr.strip()[-400:]}")
        self.returncode = returncode
        self.stderr = stderr


class SshHost:
    def __init__(self, address: HostAddress, key_file: Path, known_hosts_file: Path):
        self.address = address
        # Control sockets need a short path: a private temporary directory per host.
        self._control_dir = tempfile.TemporaryDirectory(prefix="mlci-ssh-")
        self.options = ssh_options(key_file, known_hosts_file, Path(self._control_dir.name) / "master")
        self._cut_until = 0.0

    def cut(self, seconds: float) -> None:
        """Fault injection: the connection dies now and every command fails for `seconds`, as on a network cut."""
        subprocess.run(close_master_command(self.address, self.options), capture_output=True, timeout=30)
        self._cut_until = time.monotonic() + seconds

    def _refuse_when_cut(self) -> None:
        if time.monotonic() < self._cut_until:
            raise CannotRun(f"{self.address}: SSH connection failed: connection cut (fault injection)")

    def run(self, argv: Sequence[str], input_bytes: bytes | None = None, timeout: float = 120,
            check: bool = True) -> subprocess.CompletedProcess:
        self._refuse_when_cut()
        command = ssh_command(self.address, self.options, list(argv))
        try:
            # Its own session: a Ctrl-C at the terminal reaches the deploy (which then stops at a safe point and
            # undoes), not the remote command half way through.
            result = subprocess.run(command, input=input_bytes, capture_output=True, timeout=timeout,
                                    start_new_session=True,
                                    stdin=None if input_bytes is not None else subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise CannotRun(f"{self.address}: `{' '.join(argv)[:80]}` did not finish within {timeout:.0f}s") from None
        stderr = result.stderr.decode(errors="replace")
        if result.returncode == 255:
            self._raise_for_connection(stderr)
        if check and result.returncode != 0:
            raise RemoteCommandFailed(self.address, argv, result.returncode, stderr)
        return result

    def text(self, argv: Sequence[str], timeout: float = 120) -> str:
        return self.run(argv, timeout=timeout).stdout.decode(errors="replace").strip()

    def run_into(self, argv: Sequence[str], output: BinaryIO, timeout: float = 3600) -> str:
        """Run a remote command whose output goes straight into an open file (an export larger than memory);
        returns its stderr."""
        command = ssh_command(self.address, self.options, list(argv))
        try:
            result = subprocess.run(command, stdout=output, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                    timeout=timeout)
        except subprocess.TimeoutExpired:
            raise CannotRun(f"{self.address}: `{' '.join(argv)[:80]}` did not finish within {timeout:.0f}s") from None
        stderr = result.stderr.decode(errors="replace")
        if result.returncode == 255:
            self._raise_for_connection(stderr)
        if result.returncode != 0:
            raise RemoteCommandFailed(self.address, argv, result.returncode, stderr)
        return stderr

    def pipe_from_local(self, local_argv: Sequence[str], remote_argv: Sequence[str], timeout: float = 900) -> None:
        """Stream a local command's output into a remote command (docker save | ssh docker load)."""
        self._refuse_when_cut()
        producer = subprocess.Popen(list(local_argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    start_new_session=True)
        try:
            result = subprocess.run(ssh_command(self.address, self.options, list(remote_argv)), stdin=producer.stdout,
                                    capture_output=True, timeout=timeout, start_new_session=True)
        finally:
            producer.stdout.close()
            producer_error = producer.stderr.read().decode(errors="replace")
            producer.wait(timeout=60)
        if producer.returncode != 0:
            raise CannotRun(f"`{' '.join(local_argv)}` failed: {producer_error.strip()[-300:]}")
        stderr = result.stderr.decode(errors="replace")
        if result.returncode == 255:
            self._raise_for_connection(stderr)
        if result.returncode != 0:
            raise RemoteCommandFailed(self.address, remote_argv, result.returncode, stderr)

    def forward_to_host(self, remote_port: int, local: str, cancel: bool = False) -> None:
        """Make the agent's `local` (host:port) reachable as 127.0.0.1:remote_port on the host through the master
        connection (or stop doing so)."""
        self.text(["true"])  # the master connection the forward rides on
        try:
            result = subprocess.run(reverse_forward_command(self.address, self.options, remote_port, local, cancel),
                                    capture_output=True, text=True, timeout=30)
        except subprocess.TimeoutExpired:
            raise CannotRun(f"{self.address}: the SSH forward to {local} did not answer within 30s") from None
        if result.returncode != 0 and not cancel:
            raise CannotRun(f"{self.address}: tunnel to {local} failed: {result.stderr.strip()[-200:]}")

    def close(self) -> None:
        subprocess.run(close_master_command(self.address, self.options), capture_output=True, timeout=30)
        self._control_dir.cleanup()

    def _raise_for_connection(self, stderr: str) -> None:
        if any(marker in stderr for marker in HOST_KEY_REFUSED):
            raise CannotRun(f"{self.address}: host key verification failed: its key is not the one pinned in "
                            f"known_hosts; refusing to connect ({stderr.strip().splitlines()[-1]})")
        raise CannotRun(f"{self.address}: SSH connection failed: {stderr.strip()[-300:] or 'no answer'}")
