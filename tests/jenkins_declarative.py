"""How declarative Pipeline decides which stages run: its `when` conditions, evaluated as the real classes do.

Reads the pipeline model ci/jenkinsfile/structure.groovy prints from the Jenkinsfile's AST (--model-json) and
evaluates it against an environment from tests/jenkins_build_environment.py. The classes mirrored are in
jenkinsci/pipeline-model-definition-plugin: pipeline-model-definition/src/main/java/org/jenkinsci/plugins/
pipeline/modeldefinition/when/impl/ and when/utils/Comparator.java, and ModelInterpreter.groovy. A condition
this model does not know (an `expression { }` above all: arbitrary Groovy) is an UnsupportedCondition, so a
test can never pass by guessing.
"""

import json
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path


class UnsupportedCondition(Exception):
    """A `when` condition whose outcome cannot be known offline."""


def load_model(jenkinsfile: Path, check: Callable[[Path, str], subprocess.CompletedProcess]) -> tuple[dict, list[str]]:
    """The pipeline as data, with the checker's problems (the model comes out even when a rule fails); check runs
    structure.groovy's model-json mode (the tests' jenkinsfile_check fixture)."""
    result = check(jenkinsfile, "model-json")
    if not result.stdout.strip():
        raise AssertionError(f"no model for {jenkinsfile}: {result.stderr}")
    return json.loads(result.stdout), [line for line in result.stderr.splitlines() if line.strip()]


def _ant_segment(pattern: str, actual: str) -> bool:
    # '*' any run of characters, '?' exactly one, compared by Character.toUpperCase when not case-sensitive.
    expression = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(expression, actual, re.IGNORECASE | re.DOTALL) is not None


def _ant_path(pattern: list[str], actual: list[str]) -> bool:
    if not pattern:
        return not actual
    if pattern[0] == "**":
        return any(_ant_path(pattern[1:], actual[index:]) for index in range(len(actual) + 1))
    return bool(actual) and _ant_segment(pattern[0], actual[0]) and _ant_path(pattern[1:], actual[1:])


def glob_matches(pattern: str, actual: str) -> bool:
    """Comparator.GLOB: Ant's SelectorUtils.matchPath(pattern, actual, caseSensitive=false), '/' separating
    segments ('*' stays within one, '**' spans any number) — apache/ant: src/main/org/apache/tools/ant/types/
    selectors/SelectorUtils.java (matchPath, match). Case-insensitive: `branch 'main'` also matches 'MAIN'."""
    def segments(text: str) -> list[str]:
        # tokenizePathAsArray: an absolute path keeps its root as a first segment; empty segments vanish.
        return (["/"] if text.startswith("/") else []) + [part for part in text.split("/") if part]
    return _ant_path(segments(pattern), segments(actual))


def compare(comparator: str | None, pattern: str, actual: str) -> bool:
    """Comparator.get(name, GLOB).compare: an unknown or empty name is GLOB; REGEXP is String.matches (the
    whole value); EQUALS is String.equals. A blank actual value compares as ''."""
    name = (comparator or "GLOB").upper()
    if name == "REGEXP":
        return re.fullmatch(pattern, actual) is not None
    if name == "EQUALS":
        return actual == pattern
    return glob_matches(pattern, actual)


def _argument(condition: dict, name: str, position: int = 0):
    args = condition.get("args", {"positional": [], "named": {}})
    value = args["named"].get(name, args["positional"][position] if len(args["positional"]) > position else None)
    if isinstance(value, dict):
        raise UnsupportedCondition(f"line {condition['line']}: {condition['kind']} {name} is computed: "
                                   f"{value.get('expression')}")
    return value


def condition_holds(condition: dict, env: dict[str, str]) -> bool:
    kind = condition["kind"]
    if kind == "anyOf":  # AnyOfConditionalScript: children.any
        return any(condition_holds(child, env) for child in condition["children"])
    if kind == "allOf":  # AllOfConditionalScript: children.every
        return all(condition_holds(child, env) for child in condition["children"])
    if kind == "not":  # NotConditionalScript: !child
        return not condition_holds(condition["children"][0], env)
    if kind == "branch":
        # BranchConditionalScript: env.BRANCH_NAME, else GIT_LOCAL_BRANCH; BranchConditional.branchMatches:
        # both empty matches, one empty does not.
        actual = env.get("BRANCH_NAME") or env.get("GIT_LOCAL_BRANCH") or ""
        pattern = _argument(condition, "pattern") or ""
        if not actual or not pattern:
            return not actual and not pattern
        return compare(_argument(condition, "comparator", 1), pattern, actual)
    if kind in ("tag", "buildingTag"):
        # TagConditionalScript: env.TAG_NAME; TagConditional.tagMatches: no tag never matches, no pattern
        # matches any tag (buildingTag is TagConditional(null)).
        actual = env.get("TAG_NAME", "")
        pattern = _argument(condition, "pattern") if kind == "tag" else None
        if not actual:
            return False
        return not pattern or compare(_argument(condition, "comparator", 1), pattern, actual)
    if kind == "environment":
        # EnvironmentConditional.environmentMatches: equals, or equalsIgnoreCase with ignoreCase: true.
        name, value = _argument(condition, "name"), _argument(condition, "value", 1) or ""
        actual = env.get(name, "")
        if not actual:
            return not value
        return actual.lower() == value.lower() if _argument(condition, "ignoreCase", 2) else actual == value
    if kind == "changeRequest" and not condition["args"]["positional"] and not condition["args"]["named"]:
        return bool(env.get("CHANGE_ID"))  # ChangeRequestConditional: a change request build, any
    raise UnsupportedCondition(f"line {condition['line']}: `{kind}` cannot be evaluated offline")


def when_holds(when: dict | None, env: dict[str, str]) -> bool:
    """ModelInterpreter.WhenEvaluator: no `when` runs the stage; several conditions must all hold."""
    return when is None or all(condition_holds(condition, env) for condition in when["conditions"])


def walk(stages: list[dict]) -> Iterator[dict]:
    for stage in stages:
        yield stage
        yield from walk(stage["stages"])


def stages_run(model: dict, env: dict[str, str]) -> dict[str, bool]:
    """Each stage by name with whether it runs; a skipped stage's nested stages are skipped with it
    (ModelInterpreter.skipStage)."""
    outcome: dict[str, bool] = {}

    def visit(stages: list[dict], parent_runs: bool) -> None:
        for stage in stages:
            runs = parent_runs and when_holds(stage["when"], env)
            outcome[stage["name"]] = runs
            visit(stage["stages"], runs)
    visit(model["stages"], True)
    return outcome
