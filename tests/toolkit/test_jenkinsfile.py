"""The Jenkinsfile without Jenkins: Groovy syntax with the Groovy line Jenkins runs, and its wiring to `ci`."""

import json
import re
import subprocess
from pathlib import Path

import pytest

from ci.__main__ import COMMANDS
from ci.pipeline_plan import stage_names
from tests.toolkit.conftest import REPOSITORY_ROOT

JENKINSFILE = REPOSITORY_ROOT / "Jenkinsfile"
SYNTAX_CHECK = REPOSITORY_ROOT / "ci" / "jenkinsfile" / "syntax.groovy"
JAVA_HOME = "/usr/lib/jvm/java-17-openjdk-amd64"
WRAPPER_STAGES = {"Build and test"}


def groovy_syntax(path: Path) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["groovy", str(SYNTAX_CHECK), str(path)], capture_output=True, text=True, timeout=120,
                              env={"JAVA_HOME": JAVA_HOME, "PATH": "/usr/bin:/bin"})
    except FileNotFoundError:
        pytest.fail("groovy is not installed: `python -m ci setup` installs it", pytrace=False)


def test_the_jenkinsfile_compiles_with_groovy():
    result = groovy_syntax(JENKINSFILE)
    assert result.returncode == 0, result.stderr


def test_a_broken_jenkinsfile_is_caught_with_its_line(tmp_path):
    broken = tmp_path / "Jenkinsfile"
    lines = JENKINSFILE.read_text().splitlines()
    index = next(number for number, line in enumerate(lines) if "stage('Lint')" in line)
    lines[index] = lines[index].replace("{", "")
    broken.write_text("\n".join(lines) + "\n")
    result = groovy_syntax(broken)
    assert result.returncode == 1
    assert re.search(r"line \d+", result.stderr), result.stderr


def test_every_sh_step_runs_an_existing_ci_command():
    steps = re.findall(r"\bsh\s+'([^']*)'", JENKINSFILE.read_text())
    assert steps
    known = {module.NAME for module in COMMANDS}
    for step in steps:
        assert step.startswith("bin/ci "), f"sh step does not run the toolkit: {step}"
        assert step.split()[1] in known, f"unknown ci command in: {step}"


def test_stages_run_in_the_local_pipelines_order():
    jenkins_stages = [name for name in re.findall(r"stage\('([^']+)'\)", JENKINSFILE.read_text())
                      if name not in WRAPPER_STAGES]
    local = stage_names()
    positions = [jenkins_stages.index(name) for name in local]
    assert positions == sorted(positions), (jenkins_stages, local)


def test_the_approval_has_a_submitter_a_timeout_and_records_who_approved():
    text = JENKINSFILE.read_text()
    approve = text[text.index("stage('Approve')"):text.index("stage('Deploy')")]
    assert "submitter:" in approve and "submitterParameter:" in approve and "timeout(" in approve
    assert "agent {" not in approve, "no executor may be held while waiting for a release manager"


STRUCTURE_CHECK = REPOSITORY_ROOT / "ci" / "jenkinsfile" / "structure.groovy"


def groovy_structure(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["groovy", str(STRUCTURE_CHECK), str(path)], capture_output=True, text=True, timeout=120,
                          env={"JAVA_HOME": JAVA_HOME, "PATH": "/usr/bin:/bin"})


def test_the_declarative_structure_is_valid():
    result = groovy_structure(JENKINSFILE)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("original, broken, expected", [
    ("stage('Lint') {\n                    steps {", "stage('Lint') {\n                    stpes {",
     r"line \d+: 'stpes' is not allowed in stage 'Lint'"),
    ("                    steps {\n                        sh 'bin/ci build'\n                    }\n",
     "                    options { timeout(time: 1, unit: 'HOURS') }\n",
     r"line \d+: stage 'Build' needs exactly one of steps, stages, parallel or matrix \(found 0\)"),
    ("cleanup {", "done {", r"line \d+: 'done' is not allowed in post"),
])
def test_broken_structures_are_reported_with_their_line(tmp_path, original, broken, expected):
    text = JENKINSFILE.read_text()
    assert original in text
    copy = tmp_path / "Jenkinsfile"
    copy.write_text(text.replace(original, broken, 1))
    result = groovy_structure(copy)
    assert result.returncode == 1
    assert re.search(expected, result.stderr), result.stderr


GROOVY_LINT = REPOSITORY_ROOT / "build" / "tools" / "node_modules" / ".bin" / "npm-groovy-lint"


def test_codenarc_finds_no_error_in_the_jenkinsfile(tmp_path):
    if not GROOVY_LINT.exists():
        pytest.fail("npm-groovy-lint is not installed: `python -m ci setup` installs it into build/tools",
                    pytrace=False)
    report = tmp_path / "groovy-lint.json"
    result = subprocess.run([str(GROOVY_LINT), "--noserver", "--failon", "error", "--javaexecutable",
                             f"{JAVA_HOME}/bin/java", "--output", str(report), "Jenkinsfile"],
                            cwd=REPOSITORY_ROOT, capture_output=True, text=True, timeout=300)
    summary = json.loads(report.read_text())["summary"]
    # A mistyped path lints nothing and exits 0: the count of files linted proves the Jenkinsfile was read.
    assert summary["totalFilesLinted"] == 1, result.stdout + result.stderr
    assert summary["totalFoundErrorNumber"] == 0 and result.returncode == 0, result.stdout + result.stderr
