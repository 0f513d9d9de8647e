"""The pipeline report (reports/pipeline.html): one self-contained page built from already-loaded report data.

Pure functions: the caller reads the files; nothing here touches the disk or the network. The page carries its
CSS and its charts (PNG data URIs) inline, so Jenkins can archive it and anyone can open it offline.
"""

import html
from dataclasses import dataclass, field
from datetime import datetime

from ci import html_page as page
from ci import report_charts
from ci.evidence import metric_delta, not_worse
from ci.model_labels import metadata_from_labels
from ci.test_plan import TIERS
from ci.test_results import coverage_percent

QUALITY_METRICS = ("accuracy", "roc_auc", "f1", "precision", "recall", "log_loss")
# The pipeline stage whose run produced each tier's reports; `host` is not a pipeline stage.
TIER_STAGES = {"unit": "Unit", "integration": "Integration", "acceptance": "Acceptance"}
RAN = ("passed", "failed")


@dataclass(frozen=True)
class ReportData:
    """Everything the page shows, as loaded from reports/: a report that is absent is None (or empty)."""

    project: str
    generated_at: str
    pipeline: dict | None = None
    evidence: dict | None = None
    build: dict | None = None
    deploy: dict | None = None
    gates: dict | None = None
    tests: list[dict] = field(default_factory=list)
    lint: dict | None = None
    coverage_xml: dict[str, str] = field(default_factory=dict)
    # The run the page is for, and one line per file shown that another run left (ci/reports.py stale_reports).
    run: str = ""
    stale: list[str] = field(default_factory=list)


# ── choosing what to show ────────────────────────────────────────────────────────────────────────────────────

def stage_rows(pipeline: dict | None) -> list[dict]:
    rows = []
    for row in (pipeline or {}).get("stages", []):
        status = row.get("status") or _status_from_exit_code(row.get("exit_code"))
        rows.append({"stage": row.get("stage", "?"), "status": status, "seconds": row.get("seconds"),
                     "log": row.get("log")})
    return rows


def _status_from_exit_code(exit_code: int | None) -> str:
    # pipeline.json written before stages had a status carries only the exit code.
    if exit_code is None:
        return "not run"
    return "passed" if exit_code == 0 else "failed"


def stage_ran(pipeline: dict | None, stage: str | None) -> bool:
    """Whether a stage's reports belong to this pipeline: files an earlier run left under reports/ do not.

    Without a pipeline record (commands run one by one) every report present is shown."""
    if pipeline is None:
        return True
    return any(row["stage"] == stage and row["status"] in RAN for row in stage_rows(pipeline))


def overall_result(pipeline: dict | None) -> str:
    if pipeline is None:
        return "no pipeline record"
    if pipeline.get("result"):
        return pipeline["result"]
    return "failed" if any(row["status"] == "failed" for row in stage_rows(pipeline)) else "passed"


def candidate_release(data: ReportData) -> dict:
    """Image, id, digest, tags, model version and recorded metrics: evidence.json's, else build.json's."""
    candidate = (data.evidence or {}).get("candidate")
    if candidate:
        return candidate
    if not data.build or not stage_ran(data.pipeline, "Build"):
        return {}
    model = data.build.get("images", {}).get("model", {})
    labels = data.build.get("labels") or model.get("labels") or {}
    return {
        "image": data.build.get("image"), "image_id": model.get("image_id"),
        "digest": (data.build.get("push") or {}).get("digest"), "tags": data.build.get("tags", []),
        **metadata_from_labels(labels),
    }


def gates_report(data: ReportData) -> dict | None:
    gates = (data.evidence or {}).get("gates") or data.gates
    return gates if gates and stage_ran(data.pipeline, "Acceptance") else None


def serving_comparisons(data: ReportData, gates: dict | None) -> list[dict]:
    """One entry per environment compared with: its label, serving model version and metrics (None if none)."""
    comparisons = (data.evidence or {}).get("comparisons") or []
    if comparisons:
        return [{"label": item.get("environment") or "serving",
                 "model_version": (item.get("serving") or {}).get("model_version"),
                 "metrics": (item.get("serving") or {}).get("metrics"),
                 "metadata_diff": item.get("metadata_diff") or [], "note": item.get("note")}
                for item in comparisons]
    if not gates:
        return []
    serving = ((gates.get("gates") or {}).get("model_quality") or {}).get("serving")
    return [{"label": "baseline", "model_version": None, "metrics": serving, "metadata_diff": [],
             "note": "no serving model to compare with (the acceptance tier ran without a baseline URL)"}]


def tier_rows(data: ReportData) -> list[dict]:
    evidence = data.evidence or {}
    results = {row["tier"]: row for row in (evidence.get("tests") or data.tests) if "tier" in row}
    coverage = evidence.get("coverage") or {tier: coverage_percent(text) for tier, text in data.coverage_xml.items()}
    tiers = [tier for tier in TIERS if tier in results or coverage.get(tier) is not None]
    tiers += sorted(set(results) - set(TIERS))
    return [{**results.get(tier, {"tier": tier}), "coverage": coverage.get(tier)} for tier in tiers
            if stage_ran(data.pipeline, TIER_STAGES.get(tier))]


def rollback_notes(deploy: dict) -> list[str]:
    """For a deploy that did not succeed: per host, why, and which release kept serving (HTML, escaped)."""
    notes = []
    for host in deploy.get("hosts", []):
        result = host.get("result", "")
        if result == "success":
            continue
        where, reason = page.text(host.get("host")), page.text(host.get("reason") or "no reason recorded")
        if result == "rollback failed":
            notes.append(f"<b>{where}</b>: the rollback failed ({reason}); check what serves there now.")
            continue
        previous = host.get("previous")
        kept = (f"the previous release <code>{page.text(previous)}</code> kept serving" if previous
                else "no earlier release was serving there")
        notes.append(f"<b>{where}</b>: {page.text(result)}: {reason}; {kept}.")
    if not notes:
        notes.append(f"{page.text(deploy.get('reason') or 'see the Deploy stage log')}; "
                     "the previous release kept serving.")
    return notes


def _pipeline_seconds(pipeline: dict | None) -> float | None:
    if not pipeline:
        return None
    try:
        started = datetime.fromisoformat(pipeline["started_at"])
        return (datetime.fromisoformat(pipeline["finished_at"]) - started).total_seconds()
    except (KeyError, TypeError, ValueError):
        seconds = [row["seconds"] for row in stage_rows(pipeline) if row["seconds"] is not None]
        return sum(seconds) if seconds else None


# ── sections ─────────────────────────────────────────────────────────────────────────────────────────────────

def _header(data: ReportData, candidate: dict) -> str:
    result = overall_result(data.pipeline)
    commit = (data.build or {}).get("revision") or (data.deploy or {}).get("commit")
    pipeline = data.pipeline or {}
    summary = page.facts([
        ("Run", page.code(data.run or None)),
        ("Commit", page.code(commit[:12] if commit else None)),
        ("Image", page.code(candidate.get("image"))),
        ("Model version", page.code(candidate.get("model_version"))),
        ("Started", page.when(pipeline.get("started_at"))),
        ("Duration", page.text(page.seconds(_pipeline_seconds(data.pipeline)))),
    ], css="facts summary")
    return (f'<header class="top"><div class="wrap"><div class="title-row"><div>'
            f'<p class="eyebrow">Pipeline report</p><h1>{page.text(data.project)}</h1></div>'
            f'<span class="result {page.PILL_CLASS.get(result, "idle")}" id="overall-result">{page.text(result)}</span>'
            f"</div>{summary}</div></header>")


def _stale_section(stale: list[str]) -> str:
    """Files an earlier run left in the reused workspace, named at the top of the page: what they say is not this
    run's."""
    if not stale:
        return ""
    items = "".join(f"<li>{page.text(line)}</li>" for line in stale)
    return page.section("stale", "Reports from another run", f'<div class="warn"><p>These files were not written by '
                                                             f"this run; what they show below is not its result:</p>"
                                                             f"<ul>{items}</ul></div>")


def _stages_section(pipeline: dict | None) -> str:
    rows = stage_rows(pipeline)
    if not rows:
        return page.section("stages", "Stages", '<p class="not-run">No stage record: reports/pipeline.json is missing, '
                            "so <code>python -m ci pipeline</code> has not run here.</p>")
    chart = report_charts.stage_durations_chart([(row["stage"], row["seconds"], row["status"]) for row in rows])
    table = page.table("stages-table", ["Stage", "Status", "Seconds", "Log"],
                       [[page.text(row["stage"]), page.pill(row["status"]), page.number(row["seconds"], 1),
                         page.code(row["log"])] for row in rows], numeric={2})
    return page.section("stages", "Stages", f'<div class="split">{page.figure(chart, "Stage durations")}{table}</div>')


def _quality_section(data: ReportData, candidate: dict, gates: dict | None) -> str:
    quality = ((gates or {}).get("gates") or {}).get("model_quality")
    if not candidate.get("metrics") and not quality:
        return page.section("quality", "Model quality", page.not_run("Model evaluation"))
    parts = [_gate_verdict("Model quality gate", quality, _quality_detail(quality)) if quality
             else page.not_run("The acceptance gates")]
    thresholds = (gates or {}).get("thresholds") or {}
    # Without a recorded candidate (no build report) the metrics the gate measured stand for it.
    measured = {"metrics": (quality or {}).get("measured") or {}}
    parts.append(_metrics_table(candidate if candidate.get("metrics") else measured,
                                serving_comparisons(data, gates), thresholds))
    if quality:
        parts.append(_quality_charts(quality, candidate))
    return page.section("quality", "Model quality", "".join(parts))


def _quality_charts(quality: dict, candidate: dict) -> str:
    figures = []
    matrix = quality.get("confusion_matrix")
    if matrix:
        labels = quality.get("labels_order") or [str(index) for index in range(len(matrix))]
        figures.append(page.figure(report_charts.confusion_matrix_chart(matrix, labels),
                                   "Confusion matrix of the candidate (held-out split, over HTTP)"))
    roc = quality.get("roc_curve") or {}
    if roc.get("fpr"):
        auc = (quality.get("measured") or {}).get("roc_auc", (candidate.get("metrics") or {}).get("roc_auc"))
        figures.append(page.figure(report_charts.roc_curve_chart(roc["fpr"], roc["tpr"], auc),
                                   "ROC curve of the candidate"))
    if not figures:
        return '<p class="note">This acceptance run recorded no confusion matrix or ROC curve.</p>'
    return f'<div class="charts">{"".join(figures)}</div>'


def _quality_detail(quality: dict) -> str:
    records = quality.get("evaluated_records")
    return f"measured over HTTP on {records} held-out records" if records else "measured over HTTP"


def _gate_verdict(name: str, gate: dict, detail: str) -> str:
    status = "passed" if gate.get("passed") else "failed"
    failures = "".join(f"<li>{page.text(failure)}</li>" for failure in gate.get("failures") or [])
    listed = f"<ul class='failures'>{failures}</ul>" if failures else ""
    return f'<p class="verdict">{page.pill(status)} <b>{html.escape(name)}</b> — {html.escape(detail)}</p>{listed}'


def _metrics_table(candidate: dict, comparisons: list[dict], thresholds: dict) -> str:
    """Candidate and, side by side, each serving model it was compared with, with the deltas and gate minimums."""
    metrics = candidate.get("metrics") or {}
    compared = [item for item in comparisons if item["metrics"]]
    headers = ["Metric", "Candidate" + _version_suffix(candidate.get("model_version"))]
    for item in compared:
        headers += [f"Serving: {item['label']}{_version_suffix(item['model_version'])}", "Δ"]
    rows = []
    for name in QUALITY_METRICS:
        if name not in metrics and not any(name in item["metrics"] for item in compared):
            continue
        row = [page.code(name), page.number(metrics.get(name))]
        for item in compared:
            serving = item["metrics"].get(name)
            row += [page.number(serving), _delta(name, metric_delta(metrics.get(name), serving))]
        minimum = thresholds.get(f"min_{name}")
        rows.append(row + ([f"≥ {page.text(minimum)}" if minimum is not None else ""] if thresholds else []))
    parts = [page.table("metrics-table", headers + (["Gate"] if thresholds else []), rows,
                        numeric=set(range(1, len(headers))))]
    parts += [f'<p class="note">{page.text(item["label"])}: '
              f'{page.text(item["note"] or "no serving model to compare with")}</p>'
              for item in comparisons if not item["metrics"]]
    for index, item in enumerate(compared):
        if item["metadata_diff"]:
            parts.append(f"<h3>Metadata that differs from {page.text(item['label'])}</h3>")
            parts.append(page.table(f"metadata-diff-{index}", ["Key", "Candidate", "Serving"],
                                    [[page.code(diff.get("key")), page.code(diff.get("candidate")),
                                      page.code(diff.get("serving"))] for diff in item["metadata_diff"]]))
    return "".join(parts)


def _version_suffix(model_version: str | None) -> str:
    return f" ({model_version})" if model_version else ""


def _delta(metric: str, delta: float | None) -> str:
    if delta is None:
        return "—"
    if delta == 0:
        return f"{delta:+.4f}"
    return f'<span class="{"better" if not_worse(metric, delta) else "worse"}">{delta:+.4f}</span>'


def _latency_section(gates: dict | None) -> str:
    latency = ((gates or {}).get("gates") or {}).get("latency")
    if not latency:
        return page.section("latency", "Latency", page.not_run("The latency gate"))
    budget = latency.get("budget_p95_ms")
    facts = page.facts([("p50", page.text(_ms(latency.get("p50_ms")))), ("p95", page.text(_ms(latency.get("p95_ms")))),
                        ("p99", page.text(_ms(latency.get("p99_ms")))), ("p95 budget", page.text(_ms(budget))),
                        ("Requests", page.text(latency.get("requests"))), ("Errors", page.text(latency.get("errors")))],
                       css="facts compact")
    verdict = _gate_verdict("Latency gate", latency, "sequential single-record requests after a warm-up")
    histogram = latency.get("histogram") or {}
    if histogram.get("counts"):
        chart = report_charts.latency_histogram_chart(histogram["edges_ms"], histogram["counts"],
                                                      latency.get("p50_ms"), latency.get("p95_ms"),
                                                      latency.get("p99_ms"), budget)
        picture = page.figure(chart, "Single-record request latency")
    else:
        picture = '<p class="note">This acceptance run recorded no latency histogram.</p>'
    return page.section("latency", "Latency", verdict + facts + picture)


def _ms(value) -> str | None:
    return None if value is None else f"{value:g} ms"


def _tests_section(data: ReportData) -> str:
    rows = tier_rows(data)
    lint = (data.evidence or {}).get("lint") or data.lint
    if not rows and not lint:
        return page.section("tests", "Tests and coverage", page.not_run("Tests and lint"))
    parts = []
    if rows:
        cells = [[page.text(row["tier"]), page.text(row.get("passed")), _count(row.get("failed")),
                  _count(row.get("errors")), page.text(row.get("skipped")), page.number(row.get("seconds"), 1),
                  page.text(None if row["coverage"] is None else f"{row['coverage']:.1f} %")] for row in rows]
        parts.append(page.table("tests-table", ["Tier", "Passed", "Failed", "Errors", "Skipped", "Seconds",
                                                "Line coverage"], cells, numeric={1, 2, 3, 4, 5, 6}))
    else:
        parts.append(page.not_run("Test tiers"))
    if lint and stage_ran(data.pipeline, "Lint"):
        findings = lint.get("findings", 0)
        parts.append(f'<p class="verdict">{page.pill("passed" if findings == 0 else "failed")} '
                     f"<b>flake8</b> — {page.text(findings)} finding(s)</p>")
    else:
        parts.append(page.not_run("Lint"))
    return page.section("tests", "Tests and coverage", "".join(parts))


def _count(value) -> str:
    return f'<span class="worse">{page.text(value)}</span>' if value else page.text(value)


def _release_section(candidate: dict) -> str:
    if not candidate.get("image"):
        return page.section("release", "Release", page.not_run("The image build"))
    digest = candidate.get("digest")
    return page.section("release", "Release", page.facts([
        ("Image", page.code(candidate.get("image"))),
        ("Image id", page.code(candidate.get("image_id"))),
        ("Registry digest", page.code(digest) if digest else "not pushed to a registry"),
        ("Tags", " ".join(page.code(tag) for tag in candidate.get("tags") or []) or "—"),
        ("Model version", page.code(candidate.get("model_version"))),
    ], css="facts rows"))


def _deploy_section(data: ReportData) -> str:
    deploy = data.deploy
    if not deploy or not stage_ran(data.pipeline, "Deploy"):
        return page.section("deploy", "Deploy", page.not_run("The deploy"))
    hosts = deploy.get("hosts", [])
    result = deploy.get("result", "")
    urls = " ".join(page.code(host.get("public_url")) for host in hosts if host.get("public_url")) or "—"
    parts = []
    if result != "success":
        notes = "".join(f"<li>{note}</li>" for note in rollback_notes(deploy))
        parts.append(f'<div class="callout" id="rollback"><b>The deploy did not succeed.</b>'
                     f"<ul>{notes}</ul></div>")
    parts.append(page.facts([
        ("Environment", page.text(deploy.get("environment"))), ("Result", page.pill(result or "unknown")),
        ("Release", page.code(deploy.get("release"))), ("Public URL", urls),
        ("Failed requests during cutover", page.text(deploy.get("failed_requests_during_cutover"))),
        ("Approved by", page.text(deploy.get("approved_by"))),
    ]))
    if hosts:
        cells = [[page.code(host.get("host")), page.pill(host.get("result", "")), page.code(host.get("release")),
                  page.code(host.get("previous")), page.text((host.get("durations") or {}).get("failed_requests")),
                  page.text(host.get("reason"))] for host in hosts]
        parts.append(page.table("deploy-hosts-table", ["Host", "Result", "Release", "Previous", "Failed requests",
                                                       "Reason"], cells, numeric={4}))
    return page.section("deploy", "Deploy", "".join(parts))


def build_pipeline_report(data: ReportData) -> str:
    """The whole page as one HTML string."""
    candidate = candidate_release(data)
    gates = gates_report(data)
    body = "".join([
        _stale_section(data.stale),
        _stages_section(data.pipeline),
        _quality_section(data, candidate, gates),
        _latency_section(gates),
        _tests_section(data),
        _release_section(candidate),
        _deploy_section(data),
    ])
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{page.text(data.project)} — pipeline report</title><style>{page.STYLE}</style></head>"
            f"<body>{_header(data, candidate)}<main class=\"wrap\">{body}</main>"
            f'<footer class="wrap">Generated by <code>python -m ci report</code> at {page.when(data.generated_at)}'
            f"</footer><script>{page.IMAGE_CHECK_SCRIPT}</script></body></html>\n")
