import subprocess
import sys
from pathlib import Path

from ci.__main__ import COMMANDS, build_parser
from ci.commands.lint import flake8_command, summarize
from ci.config import Config
from ci.local_service import local_service_plan
from ci.pipeline_plan import stage_names

REPOSITORY_ROOT = Path(__file__).resolve().parents[3]


def run_ci(*args, env=None):
    return subprocess.run([sys.executable, "-m", "ci", *args], cwd=REPOSITORY_ROOT, capture_output=True,
                          text=True, env=env, timeout=60)


def test_help_lists_every_command():
    result = run_ci("--help")
    assert result.returncode == 0
    listed = [line.split()[0] for line in result.stdout.splitlines() if line.startswith("    ") and line[4] != " "]
    # argparse puts the help of a long name (predictions) on the next line; the name still starts its own line.
    assert set(listed) >= {module.NAME for module in COMMANDS}


def test_every_command_module_is_registered_once():
    names = [module.NAME for module in COMMANDS]
    assert len(names) == len(set(names))
    parser = build_parser()
    assert parser.parse_args(["test", "unit"]).command == "test"


def test_configuration_error_is_one_line_naming_the_variable_with_exit_code_2():
    import os

    result = run_ci("build", "--dry-run", env={**os.environ, "MLCI_IMAGE_REPOSITRY": "x"})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("[ERROR]")]
    assert len(error_lines) == 1 and "MLCI_IMAGE_REPOSITRY" in error_lines[0]


def test_usage_error_exits_2():
    assert run_ci("test", "nonsense").returncode == 2


def test_dry_run_build_prints_tags_and_ends_with_one_summary_line():
    result = run_ci("build", "--dry-run")
    assert result.returncode == 0
    assert '"tags"' in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("[PASS] ci build: dry run")


def test_flake8_output_is_summarized_by_code_and_file():
    output = "a.py:1:1: F401 'os' imported but unused\na.py:3:80: E501 line too long\nb.py:2:1: F401 'x'\n"
    assert summarize(output) == {"findings": 3, "by_code": {"F401": 2, "E501": 1}, "by_file": {"a.py": 2, "b.py": 1}}
    assert summarize("") == {"findings": 0, "by_code": {}, "by_file": {}}


def test_flake8_uses_the_default_format_that_warnings_ng_parses():
    assert flake8_command(["ci"])[-2:] == ["--format=default", "ci"]


def test_local_service_is_published_on_loopback_only_and_read_only():
    plan = local_service_plan(Config(), "img:1")
    assert plan.ports == {"8000/tcp": ("127.0.0.1", 8080)}
    assert "/data" in plan.tmpfs
    assert plan.label_filter == ["io.mlci.project=ml-model-service", "io.mlci.role=local-service"]


def test_pipeline_stages_follow_the_jenkins_order():
    assert stage_names() == ["Setup", "Lint", "Unit", "Build", "Integration", "Acceptance", "Push", "Approve",
                             "Deploy"]
