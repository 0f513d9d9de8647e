"""The audit log on a real target host (its dash, coreutils and util-linux flock, over SSH): records chained, a torn
append terminated and stepped over, an edited record found by `ci audit verify`, `ci releases` not failing. No
release is deployed (that takes minutes on a loaded agent): the records are appended as the deploy appends them;
test_deploy.py's rollback scenario reads back the records a real deploy and rollback wrote."""

import json

from ci.deploy.ledger import append_audit
from ci.deploy.plan import sh
from ci.executor.ssh import SshHost


def test_the_audit_chain_on_a_real_host_survives_a_torn_append_and_shows_an_edited_record(deploy_environment):
    environment = deploy_environment(hosts=1)
    log = environment.names.paths
    session = SshHost(environment.targets[0].address, environment.key, environment.known_hosts)
    try:
        append_audit(session, log, {"action": "deploy", "release": "d", "result": "success", "approved_by": "alice"})
        session.run(sh(f"printf '%s' '{{\"action\": \"deploy\", \"rel' >> {log.audit_log}"))  # an append cut short
        head = append_audit(session, log, {"action": "rollback", "release": "r", "result": "success"})
        lines = session.text(["cat", log.audit_log]).splitlines()
        assert len(lines) == 3 and json.loads(lines[0])["approved_by"] == "alice"

        verified = environment.run("audit", "verify")
        assert verified.returncode == 0, verified.stderr
        [host] = json.loads((environment.copy / "reports" / "audit-verify.json").read_text())["hosts"]
        assert host["records"] == 2 and host["head_sha256"] == head and host["notes"][0]["line"] == 2

        session.run(sh(f"sed -i '1s/\"alice\"/\"mallory\"/' {log.audit_log}"))
        broken = environment.run("audit", "verify")
        assert broken.returncode == 1 and "BROKEN at line 3: prev_sha256" in broken.stderr, broken.stderr

        listing = environment.run("releases")
        assert listing.returncode == 0, listing.stderr
        assert "audit log line 2 is not a JSON record" in listing.stderr and "Traceback" not in listing.stderr
    finally:
        session.close()
