"""`python -m ci pipeline` for real, in copies of the repository: stage selection, fail-fast with the failed
stage's log, the approval that needs a person (or --yes), and Jenkins's SIGTERM cleaning up mid-stage."""

import json
import os
import pty
import select
import signal
import subprocess
import time

from tests.toolkit.conftest import ci_command, lines_until, run_ci, stack_resources

NOTHING = {"containers": [], "networks": [], "volumes": []}


def stages_of(copy) -> dict[str, str]:
    report = json.loads((copy / "reports" / "pipeline.json").read_text())
    return {row["stage"]: row["status"] for row in report["stages"]}


def without_ci(**extra) -> dict:
    environ = {key: value for key, value in os.environ.items() if key not in ("CI", "JENKINS_URL")}
    return {**environ, **extra}


def test_in_ci_without_yes_it_refuses_before_running_anything(repository_copy):
    copy = repository_copy()
    result = run_ci(copy, "pipeline", env={**os.environ, "CI": "true"})
    assert result.returncode == 2, result.stderr
    assert "pass --yes to approve non-interactively" in result.stderr
    assert not (copy / "reports" / "pipeline").exists()


def test_a_failing_stage_stops_the_pipeline_naming_the_stage_and_its_log(repository_copy):
    copy = repository_copy()
    (copy / "ci" / "badly_styled.py").write_text("import os\n")
    result = run_ci(copy, "pipeline", "--yes", "--from", "Setup", "--until", "Unit")
    assert result.returncode == 1, result.stderr[-3000:]
    assert "stage Lint failed (exit 1); its log: reports/pipeline/lint.log" in result.stderr
    assert "F401 'os' imported but unused" in (copy / "reports" / "pipeline" / "lint.log").read_text()
    assert stages_of(copy) == {"Setup": "passed", "Lint": "failed", "Unit": "not run", "Build": "skipped",
                               "Integration": "skipped", "Acceptance": "skipped", "Push": "skipped",
                               "Approve": "skipped", "Deploy": "skipped"}
    table = result.stderr[result.stderr.index("stage        result"):]
    assert "Lint         failed" in table and "Unit         not run" in table


def test_only_runs_just_the_named_stages(repository_copy):
    copy = repository_copy()
    result = run_ci(copy, "pipeline", "--only", "lint", "--only", "setup")
    assert result.returncode == 0, result.stderr[-3000:]
    statuses = stages_of(copy)
    assert statuses["Setup"] == statuses["Lint"] == "passed"
    assert {status for stage, status in statuses.items() if stage not in ("Setup", "Lint")} == {"skipped"}
    assert "2 stage(s) passed" in result.stderr


def answer_at_a_terminal(copy, argv: list[str], answer: str, timeout: float = 300) -> tuple[int, str]:
    """Run argv on a pseudo-terminal, type answer when it asks, return its exit code and all it wrote."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(argv, cwd=copy, stdin=follower, stdout=follower, stderr=follower,
                               env=without_ci(), start_new_session=True)
    os.close(follower)
    output, answered = b"", False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 1)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
            if not answered and b"[y/N]" in output:
                os.write(leader, answer.encode() + b"\n")
                answered = True
        elif process.poll() is not None:
            break
    os.close(leader)
    return process.wait(timeout=30), output.decode(errors="replace")


def test_a_person_approves_or_rejects_at_the_terminal(repository_copy):
    copy = repository_copy()
    evidence = run_ci(copy, "evidence", "--env", "local")
    assert evidence.returncode == 0, evidence.stderr[-2000:]
    (copy / "reports" / "evidence.json").write_text(json.dumps(
        {**json.loads((copy / "reports" / "evidence.json").read_text()), "blockers": []}))

    code, shown = answer_at_a_terminal(copy, ci_command("approve"), "n")
    assert code == 1, shown[-2000:]
    assert "# Release evidence" in shown and "did not approve" in shown
    assert json.loads((copy / "reports" / "approval.json").read_text())["approved"] is False

    code, shown = answer_at_a_terminal(copy, ci_command("pipeline", "--only", "Approve"), "y")
    assert code == 0, shown[-2000:]
    approval = json.loads((copy / "reports" / "approval.json").read_text())
    assert approval["approved"] is True and approval["approved_by"]
    assert stages_of(copy)["Approve"] == "passed"


def test_sigterm_mid_stage_stops_the_stage_cleanly_and_records_the_interruption(engine, repository_copy):
    copy = repository_copy()
    process = subprocess.Popen(ci_command("pipeline", "--only", "Integration"), cwd=copy, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, env=without_ci())
    seen = lines_until(process, "in the runner container")
    time.sleep(1)
    process.send_signal(signal.SIGTERM)  # what Jenkins sends when a build is aborted
    seen += process.stdout.readlines()
    output = "".join(seen)
    assert process.wait(timeout=180) == 130, output[-3000:]
    assert stages_of(copy)["Integration"] == "interrupted"
    assert json.loads((copy / "reports" / "pipeline.json").read_text())["result"] == "interrupted"
    project = next(word for line in seen if "as compose project" in line for word in line.split()
                   if word.startswith("ml-model-service-"))
    assert stack_resources(engine, project) == NOTHING
