"""The pipeline report builder on realistic report data: sections, 'not run' notes, rollback, deltas, escaping."""

import base64
import re
from html.parser import HTMLParser

import pytest

from ci.evidence import metric_delta
from ci.pipeline_report import ReportData, build_pipeline_report, stage_rows, tier_rows
from ci.test_results import coverage_percent

COMMIT = "4b4c4f6f2084c776feb26b446d5f636d6bac9843"
IMAGE = "ml-model-service:4b4c4f6f2084"
STAGES = ("Setup", "Lint", "Unit", "Build", "Integration", "Acceptance", "Deploy")
SECONDS = (0.5, 1.7, 22.9, 2.6, 14.9, 10.1, 19.1)


def pipeline(statuses: dict[str, str] | None = None, result: str = "passed") -> dict:
    statuses = statuses or {}
    stages = []
    for name, seconds in zip(STAGES, SECONDS):
        status = statuses.get(name, "passed")
        ran = status in ("passed", "failed")
        exit_code = (0 if status == "passed" else 1) if ran else None
        log = f"reports/pipeline/{name.lower()}.log" if ran else None
        stages.append({"stage": name, "status": status, "exit_code": exit_code, "seconds": seconds if ran else None,
                       "log": log})
    return {"started_at": "2026-11-26T12:15:00+00:00", "finished_at": "2026-11-26T12:16:12+00:00",
            "result": result, "stages": stages, "url": "http://127.0.0.1:8088"}


BUILD = {
    "image": IMAGE, "revision": COMMIT, "tags": ["4b4c4f6f2084", "main-local"],
    "images": {"model": {"image_id": "sha256:0b5b527ffd799d3b6e896f43d06e958925e7ed0950f7f8baf70b8a206415a153"}},
    "labels": {"io.mlci.model.version": "1.0.0+d605d1b863b2", "io.mlci.model.metric.accuracy": "0.95614",
               "io.mlci.model.metric.roc_auc": "0.993717", "io.mlci.model.metric.f1": "0.965517",
               "io.mlci.model.metric.precision": "0.958904", "io.mlci.model.metric.recall": "0.972222",
               "io.mlci.model.metric.log_loss": "0.109947"},
    "push": {"digest": "sha256:5d41402abc4b2a76b9719d911017c592aa1f1e5b7c6f43e0a0f4c4d1b0c2e3f4"},
}
SERVING_METRICS = {"accuracy": 0.947368, "roc_auc": 0.995, "f1": 0.958, "precision": 0.95, "recall": 0.966,
                   "log_loss": 0.12}
GATES = {
    "thresholds": {"min_accuracy": 0.93, "min_roc_auc": 0.98, "min_f1": 0.93, "max_drop_vs_serving": 0.01,
                   "latency_p95_ms": 25, "latency_requests": 400},
    "gates": {
        "model_quality": {
            "passed": True, "measured": {"accuracy": 0.95614, "roc_auc": 0.993717, "f1": 0.965517},
            "serving": SERVING_METRICS, "evaluated_records": 114, "failures": [],
            "confusion_matrix": [[39, 3], [2, 70]], "labels_order": ["malignant", "benign"],
            "roc_curve": {"fpr": [0.0, 0.0, 0.0238, 0.0476, 0.119, 1.0], "tpr": [0.0, 0.75, 0.9306, 0.9722, 1.0, 1.0]},
        },
        "latency": {
            "passed": True, "p50_ms": 1.02, "p95_ms": 1.51, "p99_ms": 2.31, "requests": 400, "errors": 0,
            "budget_p95_ms": 25,
            "histogram": {"edges_ms": [0.8 + 0.06 * index for index in range(31)],
                          "counts": [2, 5, 14, 30, 52, 61, 58, 47, 36, 25, 18, 12, 9, 7, 5, 4, 3, 3, 2, 2, 1, 1, 1,
                                     0, 1, 0, 0, 0, 0, 1]},
        },
    },
    "passed": True,
}
DEPLOY = {
    "environment": "local", "release": "20261126T121610-0b5b527ffd79", "result": "success",
    "failed_requests_during_cutover": 0, "approved_by": "",
    "hosts": [{"host": "root@127.0.0.1:2222", "result": "success", "reason": "", "previous": "",
               "public_url": "http://127.0.0.1:8088", "release": "20261126T121610-0b5b527ffd79",
               "durations": {"failed_requests": 0}}],
}
TESTS = [{"tier": "unit", "passed": 371, "failed": 0, "errors": 0, "skipped": 0, "seconds": 20.204},
         {"tier": "integration", "passed": 33, "failed": 1, "errors": 0, "skipped": 2, "seconds": 6.594},
         {"tier": "acceptance", "passed": 3, "failed": 0, "errors": 0, "skipped": 0, "seconds": 1.091}]
COVERAGE_XML = {"unit": '<?xml version="1.0" ?>\n<coverage version="7.17.4" line-rate="0.647" branch-rate="0">'
                        "<sources><source>ci</source></sources></coverage>",
                "integration": '<?xml version="1.0" ?>\n<coverage line-rate="0.6843"></coverage>'}


def full_data(**changes) -> ReportData:
    fields = dict(project="ml-model-service", generated_at="2026-11-26T12:17:00+00:00", pipeline=pipeline(),
                  build=BUILD, gates=GATES, deploy=DEPLOY, tests=TESTS, lint={"findings": 0},
                  coverage_xml=COVERAGE_XML)
    return ReportData(**{**fields, **changes})


@pytest.fixture(scope="module")
def full_page() -> str:
    return build_pipeline_report(full_data())


class _Tables(HTMLParser):
    """Cell texts of every table, by table id."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.current: str | None = None
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.current = dict(attrs)["id"]
            self.tables[self.current] = []
        elif tag == "tr" and self.current:
            self.tables[self.current].append([])
        elif tag in ("td", "th") and self.current:
            self.cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.tables[self.current][-1].append("".join(self.cell).strip())
            self.cell = None
        elif tag == "table":
            self.current = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def tables(page: str) -> dict[str, list[list[str]]]:
    parser = _Tables()
    parser.feed(page)
    return parser.tables


def section(page: str, section_id: str) -> str:
    match = re.search(rf'<section id="{section_id}">(.*?)</section>', page, re.S)
    assert match, f"no section {section_id}"
    return match.group(1)


def embedded_pngs(page: str) -> list[bytes]:
    return [base64.b64decode(data) for data in re.findall(r'<img src="data:image/png;base64,([^"]+)"', page)]


def test_full_pipeline_fills_every_section(full_page):
    page = full_page
    assert "not run in this pipeline" not in page
    header = page[:page.index("</header>")]
    assert "ml-model-service" in header and COMMIT[:12] in header and IMAGE in header
    assert re.search(r'id="overall-result">passed<', header)
    assert "1 min 12 s" in header
    found = tables(page)
    assert found["stages-table"][0] == ["Stage", "Status", "Seconds", "Log"]
    assert found["stages-table"][1:] == [[name, "passed", f"{seconds:.1f}", f"reports/pipeline/{name.lower()}.log"]
                                         for name, seconds in zip(STAGES, SECONDS)]
    assert [row[0] for row in found["metrics-table"][1:]] == ["accuracy", "roc_auc", "f1", "precision", "recall",
                                                              "log_loss"]
    assert found["tests-table"][1:] == [["unit", "371", "0", "0", "0", "20.2", "64.7 %"],
                                        ["integration", "33", "1", "0", "2", "6.6", "68.4 %"],
                                        ["acceptance", "3", "0", "0", "0", "1.1", "—"]]
    release = section(page, "release")
    assert BUILD["push"]["digest"] in release and "main-local" in release
    assert BUILD["images"]["model"]["image_id"] in release
    deploy = section(page, "deploy")
    assert "20261126T121610-0b5b527ffd79" in deploy and "http://127.0.0.1:8088" in deploy
    assert 'id="rollback"' not in deploy
    latency = section(page, "latency")
    assert "1.51 ms" in latency and "25 ms" in latency
    assert "0 finding(s)" in section(page, "tests")


def test_every_chart_is_an_embedded_png(full_page):
    pngs = embedded_pngs(full_page)
    assert len(pngs) == 4  # stage durations, confusion matrix, ROC curve, latency histogram
    for png in pngs:
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000


def test_partial_pipeline_shows_not_run_and_ignores_reports_an_earlier_run_left():
    until_build = pipeline({"Integration": "not run", "Acceptance": "not run", "Deploy": "not run"})
    page = build_pipeline_report(full_data(pipeline=until_build))
    assert "The acceptance gates: not run in this pipeline." in section(page, "quality")
    assert "The latency gate: not run in this pipeline." in section(page, "latency")
    assert "The deploy: not run in this pipeline." in section(page, "deploy")
    assert DEPLOY["release"] not in page
    assert [row[0] for row in tables(page)["tests-table"][1:]] == ["unit"]
    assert len(embedded_pngs(page)) == 1
    assert tables(page)["stages-table"][5][1:3] == ["not run", "—"]


def test_nothing_recorded_still_renders_a_page_of_not_run_sections():
    page = build_pipeline_report(ReportData(project="ml-model-service", generated_at="2026-11-26T12:17:00+00:00"))
    assert "No stage record" in section(page, "stages")
    for section_id in ("quality", "latency", "tests", "release", "deploy"):
        assert "not run in this pipeline" in section(page, section_id)
    assert "<img" not in page.split("<script>")[0]


def test_stages_recorded_with_exit_codes_only_get_statuses():
    rows = stage_rows({"stages": [{"stage": "Setup", "exit_code": 0, "seconds": 0.5},
                                  {"stage": "Lint", "exit_code": 1, "seconds": 1.7}]})
    assert [(row["stage"], row["status"]) for row in rows] == [("Setup", "passed"), ("Lint", "failed")]


def test_failed_deploy_shows_the_reason_and_that_the_previous_release_kept_serving():
    failed = {**DEPLOY, "result": "failed", "failed_requests_during_cutover": 3,
              "hosts": [{**DEPLOY["hosts"][0], "result": "rolled back", "previous": "20261120T090000-aaaaaaaaaaaa",
                         "reason": "3 of 140 requests failed during cutover (HTTP 502)"}]}
    page = build_pipeline_report(full_data(deploy=failed, pipeline=pipeline({"Deploy": "failed"}, "failed")))
    deploy = section(page, "deploy")
    callout = re.search(r'<div class="callout" id="rollback">(.*?)</div>', deploy, re.S).group(1)
    assert "3 of 140 requests failed during cutover (HTTP 502)" in callout
    assert "the previous release <code>20261120T090000-aaaaaaaaaaaa</code> kept serving" in callout
    assert tables(page)["deploy-hosts-table"][1][1] == "rolled back"
    assert re.search(r'id="overall-result">failed<', page)


def test_a_failed_rollback_is_not_reported_as_the_previous_release_serving():
    broken = {**DEPLOY, "result": "failed",
              "hosts": [{**DEPLOY["hosts"][0], "result": "rollback failed", "previous": "20261120T090000-aaaaaaaaaaaa",
                         "reason": "ssh: connection refused"}]}
    callout = section(build_pipeline_report(full_data(deploy=broken)), "deploy")
    assert "the rollback failed (ssh: connection refused)" in callout
    assert "kept serving" not in callout


def test_candidate_and_serving_side_by_side_with_deltas(full_page):
    assert metric_delta(0.95614, 0.947368) == 0.008772
    assert metric_delta(0.95614, None) is None
    rows = {row[0]: row for row in tables(full_page)["metrics-table"]}
    assert rows["Metric"][1:4] == ["Candidate (1.0.0+d605d1b863b2)", "Serving: baseline", "Δ"]
    assert rows["accuracy"][1:5] == ["0.9561", "0.9474", "+0.0088", "≥ 0.93"]
    assert rows["roc_auc"][1:4] == ["0.9937", "0.9950", "-0.0013"]
    assert rows["log_loss"][1:4] == ["0.1099", "0.1200", "-0.0101"]
    page = full_page
    # Lower log loss is an improvement, lower ROC AUC is not.
    assert '<span class="better">-0.0101</span>' in page
    assert '<span class="worse">-0.0013</span>' in page


def test_evidence_comparisons_per_environment_and_their_notes():
    evidence = {
        "candidate": {"image": "ml-model-service:abc", "image_id": "sha256:1", "digest": None, "tags": ["abc"],
                      "model_version": "2.0.0", "metrics": {"accuracy": 0.96, "f1": 0.97}},
        "comparisons": [
            {"environment": "staging", "serving_url": "http://staging:8080",
             "serving": {"model_version": "1.9.0", "metrics": {"accuracy": 0.95, "f1": 0.975}},
             "metadata_diff": [{"key": "model_version", "candidate": "2.0.0", "serving": "1.9.0"}]},
            {"environment": "production", "serving_url": None, "serving": None,
             "note": "environment production is not configured"},
        ],
        "gates": None,
    }
    page = build_pipeline_report(full_data(evidence=evidence))
    rows = {row[0]: row for row in tables(page)["metrics-table"]}
    assert rows["Metric"][:4] == ["Metric", "Candidate (2.0.0)", "Serving: staging (1.9.0)", "Δ"]
    assert rows["accuracy"][1:4] == ["0.9600", "0.9500", "+0.0100"]
    assert rows["f1"][3] == "-0.0050"
    assert tables(page)["metadata-diff-0"][1] == ["model_version", "2.0.0", "1.9.0"]
    assert "production: environment production is not configured" in section(page, "quality")
    assert "ml-model-service:abc" in section(page, "release") and "not pushed to a registry" in section(page, "release")


def test_coverage_comes_from_cobertura_line_rate():
    assert coverage_percent(COVERAGE_XML["unit"]) == 64.7
    assert coverage_percent("<coverage/>") is None
    assert coverage_percent("not xml") is None
    evidence = {"coverage": {"unit": 91.2}, "tests": TESTS[:1]}
    assert tier_rows(full_data(evidence=evidence)) == [{**TESTS[0], "coverage": 91.2}]


def test_host_tier_is_shown_only_without_a_pipeline_record():
    host = {"tier": "host", "passed": 105, "failed": 0, "errors": 0, "skipped": 0, "seconds": 68.9}
    assert "host" not in [row["tier"] for row in tier_rows(full_data(tests=[host, *TESTS]))]
    assert [row["tier"] for row in tier_rows(full_data(tests=[host, *TESTS], pipeline=None))][0] == "host"


def test_values_from_reports_are_escaped():
    hostile = "<script>alert('x')</script>"
    failed = {**DEPLOY, "result": "failed", "hosts": [{**DEPLOY["hosts"][0], "result": "rolled back",
                                                      "reason": hostile}]}
    stages = pipeline()
    stages["stages"][0]["stage"] = "<b>Setup</b>"
    page = build_pipeline_report(full_data(project=hostile, deploy=failed, pipeline=stages))
    assert hostile not in page and "<b>Setup</b>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "&lt;b&gt;Setup&lt;/b&gt;" in page


def test_the_page_loads_nothing_from_outside(full_page):
    page = full_page
    resources = re.findall(r'\b(?:src|href|action|poster|srcset)\s*=\s*["\']?([^"\'\s>]*)', page, re.I)
    assert resources and all(value.startswith("data:image/png;base64,") for value in resources)
    assert not re.search(r"<link\b|@import|url\(|<iframe\b|<object\b", page, re.I)
    attributes = re.findall(r'\w+="([^"]*)"', page)
    assert not [value for value in attributes if re.search(r"\bhttps?:", value, re.I)]
    assert "<code>http://127.0.0.1:8088</code>" in page  # the public URL is text a person reads
