"""`ci approve`: the local pipeline's release-manager step: show the evidence bundle, ask y/n, record the answer.

In Jenkins the same stage is the `input` step (the submitter list decides who may answer). Here a person
at a terminal answers, or `--yes` approves where no one can; in CI without a terminal it refuses to guess.
Evidence from another run (reports/run.json) is refused.
"""

import getpass
import hashlib
import json
import sys
from datetime import datetime, timezone

from ci import evidence
from ci.approval import DeployApproval, deploy_approval
from ci.commands.evidence import EVIDENCE_JSON
from ci.commands.outcome import Outcome
from ci.errors import CannotRun, CheckFailed, UserError
from ci.reports import REPORTS_DIR, read_json_report, run_of, stale_reports, write_json_report

NAME = "approve"
HELP = "show the evidence bundle and approve (y/n) the deploy; --yes approves non-interactively"
APPROVAL_REPORT = "approval.json"


def add_arguments(parser) -> None:
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--yes", action="store_true", help="approve without asking")
    how.add_argument("--jenkins-input", action="store_true",
                     help="record the approval Jenkins's input step gave (APPROVED_BY) of the evidence on disk: "
                          "the Jenkinsfile's deploy stages run it before `ci deploy`")


def run(args, ctx) -> Outcome:
    evidence_file = ctx.root / REPORTS_DIR / EVIDENCE_JSON
    if not evidence_file.exists():
        raise CannotRun("reports/evidence.json is missing: run `python -m ci evidence` (the Push stage does)")
    # The approval records the hash of exactly the bytes that were shown.
    evidence_bytes = evidence_file.read_bytes()
    bundle = json.loads(evidence_bytes)
    # Evidence an earlier build left in the reused workspace is not this release's: never shown as if it were.
    stale = stale_reports({EVIDENCE_JSON: run_of(bundle)}, ctx.report_run)
    if stale:
        raise CannotRun(f"{stale[0]}: run `python -m ci evidence` in this run (the Push stage does)")
    release = f"{bundle['candidate']['image']} (model {bundle['candidate']['model_version']})"
    if args.jenkins_input:
        return _record_jenkins_input(ctx, bundle, evidence_bytes, release)
    print("\n".join(evidence.evidence_text(bundle)), flush=True)
    user = ctx.environ.get("USER") or getpass.getuser()
    if bundle["blockers"] and args.yes:
        raise CheckFailed(f"--yes does not approve a release with blockers: {'; '.join(bundle['blockers'])}")
    if args.yes:
        return _record(ctx, bundle, evidence_bytes, True, f"{user} (--yes)", release)
    if ctx.in_ci or not sys.stdin.isatty():
        raise UserError("no one can answer here (CI=true or no terminal): pass --yes to approve non-interactively")
    print(f"\nDeploy {release}? [y/N] ", flush=True)
    answer = sys.stdin.readline().strip().lower()
    return _record(ctx, bundle, evidence_bytes, answer in ("y", "yes"), user, release)


def _record_jenkins_input(ctx, bundle: dict, evidence_bytes: bytes, release: str) -> Outcome:
    """The input step (whose submitter list decides who may answer) put its approver in APPROVED_BY; this records it
    against the evidence this stage unstashed, which is what the release manager read in the build's artifacts."""
    if not ctx.identity.under_jenkins:
        raise UserError("--jenkins-input records what a Jenkins input step answered: only in a Jenkins build")
    approver = ctx.environ.get("APPROVED_BY", "").strip()
    if not approver:
        raise UserError("APPROVED_BY is empty: no Approve stage answered in this build; run the build again and "
                        "approve it")
    return _record(ctx, bundle, evidence_bytes, True, approver, release)


def _record(ctx, bundle: dict, evidence_bytes: bytes, approved: bool, who: str, release: str) -> Outcome:
    write_json_report(ctx.root, APPROVAL_REPORT, {
        "approved": approved, "approved_by": who if approved else "", "answered_by": who,
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "image_id": bundle["candidate"]["image_id"],
        "evidence_sha256": hashlib.sha256(evidence_bytes).hexdigest(),
    }, ctx.report_run)
    if not approved:
        return Outcome.failed(f"{who} did not approve {release}; nothing was deployed")
    return Outcome.ok(f"{who} approved {release}")


def approval_for_deploy(ctx, environment, approved_by_option: str, image_id: str) -> DeployApproval:
    """`ci deploy`'s approval verdict, from reports/approval.json and the sha256 of reports/evidence.json now. The
    approval is required in CI, for every environment but those ci.toml marks `approval_required = false`."""
    approved_by = approved_by_option or ctx.environ.get("APPROVED_BY", "")
    evidence_file = ctx.root / REPORTS_DIR / EVIDENCE_JSON
    evidence_now = hashlib.sha256(evidence_file.read_bytes()).hexdigest() if evidence_file.exists() else ""
    required = ctx.in_ci and environment.approval_required
    return deploy_approval(read_json_report(ctx.root, APPROVAL_REPORT), approved_by, evidence_now, required,
                           run=ctx.report_run, image_id=image_id)
