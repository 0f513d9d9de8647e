"""`python -m ci report` over a full pipeline's reports, opened in headless Chromium as a release manager would:
every embedded chart must decode, the tables must be there, and the page must render to a real screenshot."""

import json
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from ci.workspace import copy_workspace
from tests.toolkit.conftest import run_ci

BROWSER_SECONDS = 120
SCREEN_WIDTH, SCREEN_HEIGHT = 1280, 2400
RELEASE = "20261126T121610-0b5b527ffd79"
IMAGE_ID = "sha256:0b5b527ffd799d3b6e896f43d06e958925e7ed0950f7f8baf70b8a206415a153"

REPORTS = {
    "pipeline.json": {
        "started_at": "2026-11-26T12:15:00+00:00", "finished_at": "2026-11-26T12:16:12+00:00", "result": "passed",
        "url": "http://127.0.0.1:8088",
        "stages": [{"stage": stage, "status": "passed", "exit_code": 0, "seconds": seconds,
                    "log": f"reports/pipeline/{stage.lower()}.log"}
                   for stage, seconds in (("Setup", 0.5), ("Lint", 1.7), ("Unit", 22.9), ("Build", 2.6),
                                          ("Integration", 14.9), ("Acceptance", 10.1), ("Deploy", 19.1))],
    },
    "build.json": {
        "image": "ml-model-service:4b4c4f6f2084", "revision": "4b4c4f6f2084c776feb26b446d5f636d6bac9843",
        "tags": ["4b4c4f6f2084", "main-local"], "images": {"model": {"image_id": IMAGE_ID}},
        "labels": {"io.mlci.model.version": "1.0.0+d605d1b863b2", "io.mlci.model.metric.accuracy": "0.95614",
                   "io.mlci.model.metric.roc_auc": "0.993717", "io.mlci.model.metric.f1": "0.965517"},
    },
    "acceptance/gates.json": {
        "thresholds": {"min_accuracy": 0.93, "min_roc_auc": 0.98, "min_f1": 0.93},
        "passed": True,
        "gates": {
            "model_quality": {
                "passed": True, "measured": {"accuracy": 0.95614, "roc_auc": 0.993717, "f1": 0.965517},
                "serving": {"accuracy": 0.947368, "roc_auc": 0.995, "f1": 0.958}, "evaluated_records": 114,
                "failures": [], "confusion_matrix": [[39, 3], [2, 70]], "labels_order": ["malignant", "benign"],
                "roc_curve": {"fpr": [0.0, 0.0, 0.0238, 0.0476, 0.119, 1.0],
                              "tpr": [0.0, 0.75, 0.9306, 0.9722, 1.0, 1.0]},
            },
            "latency": {
                "passed": True, "p50_ms": 1.02, "p95_ms": 1.51, "p99_ms": 2.31, "requests": 400, "errors": 0,
                "budget_p95_ms": 25,
                "histogram": {"edges_ms": [round(0.8 + 0.06 * index, 3) for index in range(31)],
                              "counts": [2, 5, 14, 30, 52, 61, 58, 47, 36, 25, 18, 12, 9, 7, 5, 4, 3, 3, 2, 2, 1, 1,
                                         1, 0, 1, 0, 0, 0, 0, 1]},
            },
        },
    },
    "deploy.json": {
        "environment": "local", "release": RELEASE, "result": "success", "failed_requests_during_cutover": 0,
        "hosts": [{"host": "root@127.0.0.1:2222", "result": "success", "reason": "", "previous": "",
                   "public_url": "http://127.0.0.1:8088", "release": RELEASE, "durations": {"failed_requests": 0}}],
    },
    "tests.json": {"tiers": [{"tier": "acceptance", "passed": 3, "failed": 0, "errors": 0, "skipped": 0,
                              "seconds": 1.091}]},
    "lint/summary.json": {"findings": 0, "by_code": {}, "by_file": {}},
}
JUNIT = {"unit": (371, 20.204), "integration": (33, 6.594)}
COVERAGE = {"unit": "0.647", "integration": "0.6843"}


def chromium_binary() -> str:
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail("headless Chromium is missing: `python -m ci setup` installs it (Debian package chromium)",
                    pytrace=False)
    return binary


def chromium(profile: Path, *arguments: str) -> subprocess.CompletedProcess:
    # A fresh profile and no background traffic: the page must render from the file alone.
    command = [chromium_binary(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", *arguments]
    result = subprocess.run(command, capture_output=True, text=True, timeout=BROWSER_SECONDS)
    assert result.returncode == 0, f"chromium exited {result.returncode}: {result.stderr[-2000:]}"
    return result


def write_pipeline_reports(reports: Path) -> None:
    for relative, content in REPORTS.items():
        (reports / relative).parent.mkdir(parents=True, exist_ok=True)
        (reports / relative).write_text(json.dumps(content))
    for tier, (passed, seconds) in JUNIT.items():
        (reports / tier).mkdir(parents=True, exist_ok=True)
        (reports / tier / "junit.xml").write_text(
            f'<testsuites><testsuite name="{tier}" tests="{passed}" failures="0" errors="0" skipped="0" '
            f'time="{seconds}"/></testsuites>')
        (reports / tier / "coverage.xml").write_text(
            f'<?xml version="1.0" ?>\n<coverage version="7.17.4" line-rate="{COVERAGE[tier]}"></coverage>')


@pytest.fixture(scope="module")
def report_page(tmp_path_factory) -> Path:
    copy = copy_workspace(tmp_path_factory.mktemp("repo"))
    write_pipeline_reports(copy / "reports")
    result = run_ci(copy, "report", timeout=180)
    assert result.returncode == 0, result.stderr
    assert "[PASS] ci report: wrote reports/pipeline.html" in result.stderr.strip().splitlines()[-1]
    return copy / "reports" / "pipeline.html"


def test_the_browser_decodes_every_chart_and_renders_the_tables(report_page, tmp_path):
    dom = chromium(tmp_path / "profile", "--dump-dom", report_page.as_uri()).stdout
    body = re.search(r"<body\b[^>]*>", dom)
    assert body, f"no <body> in the dumped DOM: {dom[:500]}"
    loaded = re.search(r'data-images-loaded="(\d+)"', body.group(0))
    broken = re.search(r'data-images-broken="(\d+)"', body.group(0))
    assert loaded and broken, f"the page's image check did not run: {body.group(0)}"
    assert int(loaded.group(1)) >= 4, "stage durations, confusion matrix, ROC curve and latency histogram"
    assert int(broken.group(1)) == 0
    for table in ("stages-table", "metrics-table", "tests-table", "deploy-hosts-table"):
        assert f'<table id="{table}">' in dom
    assert re.search(r"<td>unit</td><td class=\"num\">371</td>", dom)
    assert "64.7 %" in dom and RELEASE in dom and IMAGE_ID in dom
    assert "not run in this pipeline" not in dom


def test_the_page_renders_to_a_full_width_screenshot(report_page, tmp_path):
    screenshot = tmp_path / "pipeline.png"
    chromium(tmp_path / "profile", f"--screenshot={screenshot}", f"--window-size={SCREEN_WIDTH},{SCREEN_HEIGHT}",
             report_page.as_uri())
    png = screenshot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (SCREEN_WIDTH, SCREEN_HEIGHT)
    assert len(png) > 20_000, "a blank page compresses to a few KB; charts and tables do not"
