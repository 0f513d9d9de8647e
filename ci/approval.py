"""Whether a deploy is approved: the approver it is given against this run's recorded approval and evidence.

`ci approve` (locally) or the Jenkinsfile's deploy stages (`ci approve --jenkins-input`, recording what Jenkins's
input step returned) write reports/approval.json: who approved, the sha256 of the evidence bundle they approved,
the candidate image, the run. In CI a deploy goes ahead only when the approver it is given (`--approved-by` or
APPROVED_BY) is that approver, the approval is this run's, and the evidence on disk is still the evidence approved;
outside CI a missing or mismatching approval is allowed, and the audit record says so.
"""

from dataclasses import dataclass

from ci.reports import run_of


@dataclass(frozen=True)
class DeployApproval:
    """The verdict for one deploy: why it may not go ahead ('' when it may), and what the audit log records."""

    approved_by: str
    problem: str
    status: str
    evidence_sha256: str

    def audit_fields(self) -> dict:
        return {"approved_by": self.approved_by, "approval": self.status,
                "approval_evidence_sha256": self.evidence_sha256}


def approval_problem(approval_report: dict | None, approved_by: str, evidence_hash_now: str, in_ci: bool, *,
                     run: str, image_id: str = "") -> str:
    """'' when the deploy may go ahead; otherwise why not. Outside CI always ''. image_id, when given, is the image
    being deployed: an approval of another image is not this deploy's."""
    if not in_ci:
        return ""
    return _mismatch(approval_report, approved_by, evidence_hash_now, run, image_id)


def deploy_approval(approval_report: dict | None, approved_by: str, evidence_hash_now: str, in_ci: bool, *,
                    run: str, image_id: str = "") -> DeployApproval:
    mismatch = _mismatch(approval_report, approved_by, evidence_hash_now, run, image_id)
    status = "verified against reports/approval.json of this run" if not mismatch else \
        f"not verified (a deploy outside CI): {mismatch}"
    return DeployApproval(approved_by=approved_by, problem=mismatch if in_ci else "", status=status,
                          evidence_sha256="" if mismatch else evidence_hash_now)


def _mismatch(report: dict | None, approved_by: str, evidence_hash_now: str, run: str, image_id: str) -> str:
    if not approved_by.strip():
        return ("no approver given: in CI a deploy needs the approver of this run's approval (--approved-by or "
                "APPROVED_BY, which the Approve stage sets)")
    if report is None:
        return "reports/approval.json is missing: in CI a deploy needs this run's approval (`ci approve`)"
    if run_of(report) != run:
        return f"reports/approval.json is from run {run_of(report) or '(none)'}, not this run ({run})"
    if not report.get("approved"):
        return f"reports/approval.json records no approval ({report.get('answered_by') or 'nobody'} answered no)"
    if report.get("approved_by") != approved_by:
        return (f"the approver given ({approved_by}) is not the approver reports/approval.json records "
                f"({report.get('approved_by') or 'nobody'})")
    if not evidence_hash_now:
        return "reports/evidence.json is missing: the approval cannot be checked against the evidence it approved"
    if report.get("evidence_sha256") != evidence_hash_now:
        return (f"reports/evidence.json changed since it was approved (sha256 now {evidence_hash_now[:12]}…, "
                f"approved {str(report.get('evidence_sha256'))[:12]}…)")
    if image_id and report.get("image_id") and report["image_id"] != image_id:
        return f"the approval is for image {report['image_id'][:19]}, not the image deployed ({image_id[:19]})"
    return ""
