"""`ci test` end to end: failures are reported with logs, nothing is left behind, parallel runs do not collide."""

import json
import os
import re
import signal
import subprocess
import time

from tests.toolkit.conftest import ci_command, lines_until, run_ci, stack_resources

NOTHING = {"containers": [], "networks": [], "volumes": []}


def project_of(output: str) -> str:
    match = re.search(r"compose project (\S+)", output)
    assert match, output
    return match.group(1)


def test_a_tier_failing_on_purpose_reports_saves_logs_and_leaves_nothing(engine, repository_copy):
    copy = repository_copy()
    result = run_ci(copy, "test", "integration", env={**os.environ, "FORCE_TEST_FAILURE": "1"})
    assert result.returncode == 1, result.stderr[-2000:]
    assert "[FAIL] ci test: failed tier(s): integration" in result.stderr
    logs = copy / "reports" / "integration" / "logs"
    assert {"model.log", "postgres.log", "runner.log"} <= {path.name for path in logs.iterdir()}
    assert "model ready" in (logs / "model.log").read_text()
    assert "fails on purpose" in (logs / "runner.log").read_text()
    assert (copy / "reports" / "integration" / "junit.xml").exists()
    assert stack_resources(engine, project_of(result.stderr)) == NOTHING


def test_two_runs_at_the_same_time_both_pass_and_leave_nothing(engine, repository_copy):
    copies = [repository_copy(), repository_copy()]
    runs = [subprocess.Popen(ci_command("test", "integration"), cwd=copy, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for copy in copies]
    outputs = [run.communicate(timeout=600) for run in runs]
    for run, (_, stderr) in zip(runs, outputs):
        assert run.returncode == 0, stderr[-2000:]
    projects = {project_of(stderr) for _, stderr in outputs}
    assert len(projects) == 2
    for project in projects:
        assert stack_resources(engine, project) == NOTHING


def test_a_service_that_never_becomes_healthy_is_named_with_its_log(engine, repository_copy):
    copy = repository_copy()
    runner_image = json.loads((copy / "reports" / "build.json").read_text())["image"].replace(
        "ml-model-service:", "ml-model-service-runner:")
    # The runner image as "the model": it runs pytest and exits, so the model service never gets healthy.
    result = run_ci(copy, "test", "integration", "--image", runner_image)
    assert result.returncode == 3, result.stderr[-2000:]
    assert "service 'model' never became healthy" in result.stderr
    assert stack_resources(engine, project_of(result.stderr)) == NOTHING


def test_a_missing_image_cannot_run(repository_copy):
    result = run_ci(repository_copy(), "test", "integration", "--image", "ml-model-service:does-not-exist")
    assert result.returncode == 3
    assert "ml-model-service:does-not-exist not present" in result.stderr


def test_ctrl_c_tears_the_stack_down(engine, repository_copy):
    copy = repository_copy()
    process = subprocess.Popen(ci_command("test", "integration"), cwd=copy, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    seen = lines_until(process, "in the runner container")
    time.sleep(1)
    os.killpg(process.pid, signal.SIGINT)
    seen += process.stdout.readlines()
    assert process.wait(timeout=120) == 130, "".join(seen)[-2000:]
    assert stack_resources(engine, project_of("".join(seen))) == NOTHING
