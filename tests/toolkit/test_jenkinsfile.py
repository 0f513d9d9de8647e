"""The Jenkinsfile without Jenkins: Groovy syntax with the Groovy line Jenkins runs, and its wiring to `ci`."""

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from ci.__main__ import COMMANDS
from ci.config import load_config
from ci.errors import CannotRun
from ci.executor.groovy import java_home, run_groovy
from ci.pipeline_plan import (JENKINS_ONLY_COMMANDS, JENKINS_ONLY_STAGES, JENKINS_TARGETS, LOCAL_TARGETS,
                              pipeline_stages)
from tests.toolkit.conftest import REPOSITORY_ROOT, run_ci

JENKINSFILE = REPOSITORY_ROOT / "Jenkinsfile"
SYNTAX_CHECK = REPOSITORY_ROOT / "ci" / "jenkinsfile" / "syntax.groovy"
STRUCTURE_CHECK = REPOSITORY_ROOT / "ci" / "jenkinsfile" / "structure.groovy"
# Jenkins groups stages to give them one agent; the groups themselves run nothing.
WRAPPER_STAGES = {"Build and test"}
TOOLKIT_STEP = re.compile(r"^python3? -m ci (\S+)")


def groovy(script: Path, *args: str) -> subprocess.CompletedProcess:
    """A one-shot run in a JVM of its own, as `ci lint` runs the check (the tests share jenkinsfile_check's JVM)."""
    try:
        return run_groovy(script, *args)
    except CannotRun as error:  # the check must fail, not skip, where groovy is missing
        pytest.fail(str(error), pytrace=False)


def test_the_jenkinsfile_compiles_with_groovy(jenkinsfile_check):
    result = jenkinsfile_check(JENKINSFILE, "syntax")
    assert result.returncode == 0, result.stderr


def syntax_broken_copy(directory: Path) -> Path:
    """The Jenkinsfile with the brace that opens stage('Lint') left out."""
    broken = directory / "Jenkinsfile"
    lines = JENKINSFILE.read_text().splitlines()
    index = next(number for number, line in enumerate(lines) if "stage('Lint')" in line)
    lines[index] = lines[index].replace("{", "")
    broken.write_text("\n".join(lines) + "\n")
    return broken


def test_a_broken_jenkinsfile_is_caught_with_its_line(jenkinsfile_check, tmp_path):
    result = jenkinsfile_check(syntax_broken_copy(tmp_path), "syntax")
    assert result.returncode == 1
    assert re.search(r"line \d+", result.stderr), result.stderr


def test_every_sh_step_runs_an_existing_ci_command():
    steps = re.findall(r"\bsh\s*\(?\s*['\"]([^'\"]*)['\"]", JENKINSFILE.read_text())
    assert len(steps) >= 10
    known = {module.NAME for module in COMMANDS}
    for step in steps:
        match = TOOLKIT_STEP.match(step)
        assert match, f"sh step does not run `python -m ci`: {step}"
        assert match.group(1) in known, f"unknown ci command in: {step}"


def jenkins_stage_tree(check: Callable[[Path, str], subprocess.CompletedProcess]) -> list[dict]:
    result = check(JENKINSFILE, "model-json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["stages"]


def toolkit_commands(shell_steps: list[str]) -> list[list[str]]:
    """`python3 -m ci <command> <args>` steps as argument lists, without the Jenkins-only ones (new-run)."""
    commands = [TOOLKIT_STEP.sub(r"\1", step).split() for step in shell_steps]
    commands = [[command[0].split()[-1], *command[1:]] for command in commands]
    return [command for command in commands if tuple(command) not in JENKINS_ONLY_COMMANDS]


def pipeline_view(tree: list[dict], parent: dict | None = None) -> list[dict]:
    """The Jenkins stages as the local pipeline names them: wrapper groups dissolved, and a stage nested in a
    pipeline stage (Deploy's environments) counted as part of it."""
    local_names = {stage.name for stage in pipeline_stages(LOCAL_TARGETS)}
    view: list[dict] = []
    for stage in tree:
        if stage["name"] in WRAPPER_STAGES:
            view += pipeline_view(stage["stages"])
        elif stage["name"] in local_names or stage["name"] in JENKINS_ONLY_STAGES:
            nested = [leaf for child in stage["stages"] for leaf in pipeline_view([child], stage)]
            view.append({"name": stage["name"], "sh": stage["sh"] + [c for leaf in nested for c in leaf["sh"]],
                         "steps": stage["steps"] + [s for leaf in nested for s in leaf["steps"]]})
        elif parent is not None:
            view.append(stage)
        else:
            raise AssertionError(f"Jenkins stage '{stage['name']}' (line {stage['line']}) is not a pipeline stage")
    return view


def test_jenkins_runs_the_local_pipelines_stages_in_order_with_the_same_commands(jenkinsfile_check):
    jenkins = [stage for stage in pipeline_view(jenkins_stage_tree(jenkinsfile_check))
               if stage["name"] not in JENKINS_ONLY_STAGES]
    expected = pipeline_stages(JENKINS_TARGETS)
    assert [stage["name"] for stage in jenkins] == [stage.name for stage in expected]
    for ours, theirs in zip(expected, jenkins):
        if ours.approval:
            # Jenkins's own input step answers it, on no agent; locally `ci approve` asks.
            assert "input" in theirs["steps"] and not theirs["sh"], theirs
            continue
        assert toolkit_commands(theirs["sh"]) == [list(command) for command in ours.commands], ours.name


def test_the_local_runner_runs_exactly_the_plans_stages():
    result = run_ci(REPOSITORY_ROOT, "pipeline", "--dry-run")
    assert result.returncode == 0, result.stderr
    listed = [line.split()[1] for line in result.stderr.splitlines() if line.startswith("run ")]
    assert listed == [stage.name for stage in pipeline_stages(LOCAL_TARGETS)]
    assert "python -m ci deploy --env local" in result.stderr


def test_jenkins_has_only_its_checkout_beyond_the_local_stages(jenkinsfile_check):
    view = pipeline_view(jenkins_stage_tree(jenkinsfile_check))
    assert view[0]["name"] == "Checkout" and set(JENKINS_ONLY_STAGES) == {"Checkout"}
    # Checkout: the exact revision, then the run starts (the job type is checked, reports/ emptied).
    assert view[0]["steps"] == ["checkout", "sh"] and view[0]["sh"] == ["python3 -m ci new-run"]
    assert toolkit_commands(view[0]["sh"]) == []


def test_each_deploy_environment_starts_its_run_in_its_own_checkout_before_the_release_is_unstashed(
        jenkinsfile_check):
    deploy = next(stage for stage in jenkins_stage_tree(jenkinsfile_check) if stage["name"] == "Deploy")
    for environment in deploy["stages"]:
        calls = [step for step in environment["steps"] if step in ("checkout", "sh", "unstash")]
        assert calls[:3] == ["checkout", "sh", "unstash"], environment["name"]
        assert environment["sh"][0] == "python3 -m ci new-run", environment["name"]


def test_the_approval_has_a_submitter_a_timeout_and_records_who_approved():
    text = JENKINSFILE.read_text()
    approve = text[text.index("stage('Approve')"):text.index("stage('Deploy')")]
    assert "submitter:" in approve and "submitterParameter:" in approve and "timeout(" in approve
    assert "agent {" not in approve, "no executor may be held while waiting for a release manager"
    # Jenkins hands the approver to `ci deploy` through the environment, as `ci approve` does locally, and
    # refuses an approval that names nobody (input returns null on pipeline-input-step before JENKINS-40594).
    assert "String approver = input(" in approve and "if (!approver) {" in approve
    assert "env.APPROVED_BY = approver" in approve
    # error() settles the input and fails the build: it cannot be approved again, only run again.
    refusal = "".join(re.findall(r"'([^']*)'", re.search(r"error\(((?:\s*'[^']*'\s*\+?)+)\)", approve).group(1)))
    assert "run the build again" in refusal and "ci jenkins approve" in refusal and "532" in refusal


LINT_STEPS = "                    steps {\n                        sh 'python3 -m ci lint'"


def test_the_declarative_structure_is_valid(jenkinsfile_check):
    result = jenkinsfile_check(JENKINSFILE, "structure")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("original, broken, expected", [
    (LINT_STEPS, LINT_STEPS.replace("steps {", "stpes {"), r"line \d+: 'stpes' is not allowed in stage 'Lint'"),
    ("                    steps {\n                        sh 'python3 -m ci build'\n                    }\n",
     "                    options { timeout(time: 1, unit: 'HOURS') }\n",
     r"line \d+: stage 'Build' needs exactly one of steps, stages, parallel or matrix \(found 0\)"),
    ("cleanup {", "done {", r"line \d+: 'done' is not allowed in post"),
    ("    environment {\n", "    triggers { pollSCM('H/5 * * * *') }\n    environment {\n",
     r"line \d+: pollSCM in a Jenkinsfile for a Multibranch Pipeline"),
    ("    environment {\n", "    triggers { cron('H 2 * * *') }\n    environment {\n",
     r"line \d+: cron in a Jenkinsfile for a Multibranch Pipeline"),
])
def test_broken_structures_are_reported_with_their_line(jenkinsfile_check, tmp_path, original, broken, expected):
    text = JENKINSFILE.read_text()
    assert original in text
    copy = tmp_path / "Jenkinsfile"
    copy.write_text(text.replace(original, broken, 1))
    result = jenkinsfile_check(copy, "structure")
    assert result.returncode == 1
    assert re.search(expected, result.stderr), result.stderr


def replaced_copy(directory: Path, original: str, broken: str) -> Path:
    text = JENKINSFILE.read_text()
    assert original in text
    directory.mkdir()
    copy = directory / "Jenkinsfile"
    copy.write_text(text.replace(original, broken, 1))
    return copy


def test_the_shared_jvm_answers_each_check_byte_for_byte_as_a_run_of_its_own(jenkinsfile_check, tmp_path):
    # The tests above ask jenkinsfile_check's one JVM; `ci lint` runs structure.groovy in a JVM of its own. Each
    # way a check ends: its script's end, its exit on a compile error, its exit after the problems it found.
    (tmp_path / "syntax").mkdir()
    syntax_broken = syntax_broken_copy(tmp_path / "syntax")
    # A rule broken: the model on stdout and the problem on stderr, from one run.
    rule_broken = replaced_copy(tmp_path / "rule", "timestamps()\n",
                                "timestamps()\n        disableConcurrentBuilds()\n")
    cases = [(JENKINSFILE, "syntax", [SYNTAX_CHECK]), (JENKINSFILE, "structure", [STRUCTURE_CHECK]),
             (syntax_broken, "syntax", [SYNTAX_CHECK]), (syntax_broken, "structure", [STRUCTURE_CHECK]),
             (rule_broken, "model-json", [STRUCTURE_CHECK, "--model-json"])]
    for path, mode, (script, *options) in cases:
        own = groovy(script, str(path), *options)
        shared = jenkinsfile_check(path, mode)
        assert (shared.returncode, shared.stdout, shared.stderr) == (own.returncode, own.stdout, own.stderr), \
            (path, mode)
        assert own.returncode == (0 if path == JENKINSFILE else 1), own.stderr
    assert own.stdout.startswith("{") and "disableConcurrentBuilds() with an input" in own.stderr


GROOVY_LINT = REPOSITORY_ROOT / "build" / "tools" / "node_modules" / ".bin" / "npm-groovy-lint"


def test_codenarc_finds_no_error_in_the_jenkinsfile(tmp_path):
    if not GROOVY_LINT.exists():
        pytest.fail("npm-groovy-lint is not installed: `python -m ci setup` installs it into build/tools",
                    pytrace=False)
    report = tmp_path / "groovy-lint.json"
    result = subprocess.run([str(GROOVY_LINT), "--noserver", "--failon", "error", "--javaexecutable",
                             f"{java_home()}/bin/java", "--output", str(report), "Jenkinsfile"],
                            cwd=REPOSITORY_ROOT, capture_output=True, text=True, timeout=300)
    summary = json.loads(report.read_text())["summary"]
    # A mistyped path lints nothing and exits 0: the count of files linted proves the Jenkinsfile was read.
    assert summary["totalFilesLinted"] == 1, result.stdout + result.stderr
    assert summary["totalFoundErrorNumber"] == 0 and result.returncode == 0, result.stdout + result.stderr


def test_no_trigger_polls_or_builds_on_a_schedule_and_release_managers_match_ci_toml():
    config = load_config(REPOSITORY_ROOT, environ={})
    text = JENKINSFILE.read_text()
    # Multibranch: the project's scan (scan_interval) is the fallback for a missed webhook.
    assert not re.search(r"\b(pollSCM|cron)\s*\(", text) and "triggers {" not in text
    assert not hasattr(config.jenkins, "poll_schedule")
    assert config.jenkins.scan_interval == "5m"
    assert f"env.RELEASE_MANAGERS ?: '{config.jenkins.release_managers}'" in text


def test_ci_lint_checks_the_jenkinsfile_so_a_developer_sees_a_break_before_pushing(repository_copy):
    copy = repository_copy()
    jenkinsfile = copy / "Jenkinsfile"
    jenkinsfile.write_text(jenkinsfile.read_text().replace(LINT_STEPS, LINT_STEPS.replace("steps {", "stpes {"), 1))
    result = run_ci(copy, "lint")
    assert result.returncode == 1, result.stderr[-2000:]
    assert re.search(r"ci lint: Jenkinsfile: line \d+: 'stpes' is not allowed in stage 'Lint'", result.stderr)
    summary = json.loads((copy / "reports" / "lint" / "summary.json").read_text())
    assert summary["findings"] == 0
    assert any("stage 'Lint' needs exactly one of steps" in problem for problem in summary["jenkinsfile_problems"])
