"""Servers under test as processes: started in a session of their own, awaited, measured, stopped with every child."""

import http.client
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.serving_load import HttpCall

LOOPBACK = "127.0.0.1"
POLL_INTERVAL_SECONDS = 0.02
PROBE_TIMEOUT_SECONDS = 5
KILL_WAIT_SECONDS = 5


class ServerStartError(Exception):
    """A server exited or never answered; the message ends with its log."""


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    ppid: int
    pgid: int
    start_ticks: int
    zombie: bool


def parse_stat(text: str) -> ProcessInfo:
    """One /proc/<pid>/stat line; the command name may hold spaces and parentheses, so split at the last ')'."""
    pid = int(text.split(" ", 1)[0])
    fields = text.rsplit(")", 1)[1].split()
    return ProcessInfo(pid=pid, ppid=int(fields[1]), pgid=int(fields[2]), start_ticks=int(fields[19]),
                       zombie=fields[0] in ("Z", "X"))


def process_table() -> dict[int, ProcessInfo]:
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            table[int(entry.name)] = parse_stat(Path(entry.path, "stat").read_text())
        except (OSError, ValueError, IndexError):  # the process ended while we looked
            continue
    return table


def descendants(table: dict[int, ProcessInfo], root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for info in table.values():
        children.setdefault(info.ppid, []).append(info.pid)
    found, pending = set(), [root]
    while pending:
        for child in children.get(pending.pop(), []):
            if child not in found:
                found.add(child)
                pending.append(child)
    return found


def vm_rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0  # gone, or a zombie: it holds no memory


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def request_once(port: int, call: HttpCall, timeout: float = PROBE_TIMEOUT_SECONDS) -> tuple[int, bytes] | None:
    """One request to 127.0.0.1; None when nothing answers yet."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    headers = {"Content-Type": call.content_type} if call.content_type else {}
    try:
        connection.request(call.method, call.path, body=call.body or None, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()


@dataclass
class ServerProcess:
    """A server and every process it spawns, identified by pid and start time so a reused pid is never signalled."""

    name: str
    command: list[str]
    env: dict[str, str]
    cwd: Path
    log_path: Path
    popen: subprocess.Popen | None = None
    started_at: float = 0.0
    known: dict[int, int] = field(default_factory=dict)

    def start(self) -> None:
        # Its own session: a Ctrl-C at the terminal reaches this benchmark, which then stops the tree itself.
        with self.log_path.open("wb") as log:
            self.started_at = time.monotonic()
            self.popen = subprocess.Popen(self.command, env=self.env, cwd=self.cwd, stdin=subprocess.DEVNULL,
                                          stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        # Not reaped yet, so its /proc entry exists even if it has already exited.
        info = process_table().get(self.popen.pid)
        if info is not None:
            self.known[self.popen.pid] = info.start_ticks

    def exit_code(self) -> int | None:
        return self.popen.poll() if self.popen else None

    def tree(self) -> list[int]:
        """The live processes of the tree, remembering every one seen (workers may sit in sessions of their own)."""
        table = process_table()
        if self.popen and self.popen.pid in table:
            for pid in descendants(table, self.popen.pid):
                self.known.setdefault(pid, table[pid].start_ticks)
        return self._alive(table)

    def tree_rss_bytes(self) -> int:
        return sum(vm_rss_kib(pid) for pid in self.tree()) * 1024

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace_seconds: float) -> list[int]:
        """SIGTERM the session's group, wait, SIGKILL whatever of the tree is left; returns pids that survived."""
        if self.popen is None:
            return []
        self.tree()
        _signal_group(self.popen.pid, signal.SIGTERM)
        self._wait_for_exit(time.monotonic() + grace_seconds)
        for pid in self._alive(process_table()):
            _signal_pid(pid, signal.SIGKILL)
        self._wait_for_exit(time.monotonic() + KILL_WAIT_SECONDS)
        return self._alive(process_table())

    def _wait_for_exit(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            self.popen.poll()  # reap our own child, or it stays a zombie
            if not self._alive(process_table()):
                return
            if self.popen.returncode is None:
                self.tree()  # a supervisor may still respawn a worker while it shuts down
            time.sleep(0.05)

    def _alive(self, table: dict[int, ProcessInfo]) -> list[int]:
        return sorted(pid for pid, start in self.known.items()
                      if pid in table and table[pid].start_ticks == start and not table[pid].zombie)


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _signal_pid(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def wait_for_first_answer(server: ServerProcess, port: int, call: HttpCall,
                          timeout_seconds: float) -> tuple[float, bytes]:
    """Cold start: seconds from process start to the first 200 answer to `call`, and that answer's body."""
    deadline = server.started_at + timeout_seconds
    last = "no answer"
    while True:
        answer = request_once(port, call)
        if answer is not None and answer[0] == 200:
            return time.monotonic() - server.started_at, answer[1]
        if answer is not None:
            last = f"HTTP {answer[0]}: {answer[1][:200]!r}"
        code = server.exit_code()
        if code is not None:
            raise ServerStartError(f"{server.name} exited with code {code} before answering; its log ends:\n"
                                   f"{server.log_tail()}")
        if time.monotonic() > deadline:
            raise ServerStartError(f"{server.name} gave no 200 within {timeout_seconds:.0f} s (last: {last}); "
                                   f"its log ends:\n{server.log_tail()}")
        time.sleep(POLL_INTERVAL_SECONDS)
