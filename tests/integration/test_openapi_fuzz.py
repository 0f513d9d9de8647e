"""A schema-driven HTTP fuzz of the running service (issue 14): schemathesis, driven by the service's own OpenAPI
document, sends valid and invalid requests to every operation and to methods the document does not declare, and
checks every answer (no 5xx, each response conforms to its schema, invalid input refused, valid input accepted,
405 with Allow). Its counts are written beside the tier's junit.xml (fuzz.json) and printed.
"""

import collections
import json
import subprocess
import sys
from pathlib import Path

# 413 is how this service refuses a batch over maxItems (or a body over its limit): a refusal of invalid data.
CONFIG = """\
[checks.negative_data_rejection]
expected-statuses = [400, 405, 413, 415, 422]
"""
MAX_EXAMPLES = 100
SEED = 1  # repeatable: the same cases every run


def test_schemathesis_finds_no_server_error_and_no_contract_violation(model_url, tmp_path, request):
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    events = tmp_path / "events.ndjson"
    result = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run", f"{model_url}/openapi.json",
         "--checks", "all", "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED), "--no-color",
         "--report", "ndjson", "--report-ndjson-path", str(events)],
        capture_output=True, text=True, timeout=600)
    statuses = collections.Counter(_statuses(events))
    summary = {"tool": "schemathesis", "seed": SEED, "max_examples": MAX_EXAMPLES,
               "cases": sum(statuses.values()), "server_errors": sum(n for s, n in statuses.items() if s >= 500),
               "statuses": {str(status): count for status, count in sorted(statuses.items())}}
    _write_beside_junit(request, summary)
    print(f"schemathesis: {summary['cases']} cases, 5xx: {summary['server_errors']}, statuses {summary['statuses']}")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert summary["cases"] >= 300, summary  # it really ran: every operation, valid and invalid data
    assert summary["server_errors"] == 0


def _statuses(events: Path):
    """The status of every response schemathesis saw, from its NDJSON event stream."""
    for line in events.read_text().splitlines():
        yield from (int(status) for status in _find_status_codes(json.loads(line)))


def _find_status_codes(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "status_code" and isinstance(value, int):
                yield value
            else:
                yield from _find_status_codes(value)
    elif isinstance(node, list):
        for item in node:
            yield from _find_status_codes(item)


def _write_beside_junit(request, summary: dict) -> None:
    junit = request.config.option.xmlpath
    if junit:  # pytest writes junit.xml only at the end: its directory may not exist yet
        report = Path(junit).parent / "fuzz.json"
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(summary, indent=2) + "\n")
