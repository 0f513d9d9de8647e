"""The release ledger: the audit log each host keeps of every deploy and rollback of an environment."""

import json
import shlex

from ci.deploy.names import RemotePaths
from ci.deploy.plan import sh
from ci.executor.ssh import SshHost


def audit_append_command(paths: RemotePaths) -> list[str]:
    """Append one JSON line from stdin; the log is only ever appended to."""
    return sh(f"mkdir -p {shlex.quote(paths.base)} && cat >> {shlex.quote(paths.audit_log)}")


def audit_tail_command(paths: RemotePaths, lines: int) -> list[str]:
    return sh(f"tail -n {int(lines)} {shlex.quote(paths.audit_log)} 2>/dev/null || true")


def append_audit(host: SshHost, paths: RemotePaths, record: dict) -> None:
    host.run(audit_append_command(paths), input_bytes=(json.dumps(record, sort_keys=True) + "\n").encode())
