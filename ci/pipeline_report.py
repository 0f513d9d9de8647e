"""The pipeline report (reports/pipeline.html): one self-contained page built from already-loaded report data.

Pure functions: the caller reads the files; nothing here touches the disk or the network. The page carries its
CSS and its charts (PNG data URIs) inline, so Jenkins can archive it and anyone can open it offline.
"""

import base64
import html
from dataclasses import dataclass, field
from datetime import datetime, timezone

from ci import report_charts
from ci.test_results import coverage_percent

QUALITY_METRICS = ("accuracy", "roc_auc", "f1", "precision", "recall", "log_loss")
LOWER_IS_BETTER = frozenset({"log_loss"})
TIER_ORDER = ("host", "unit", "integration", "acceptance")
# The pipeline stage whose run produced each tier's reports; `host` is not a pipeline stage.
TIER_STAGES = {"unit": "Unit", "integration": "Integration", "acceptance": "Acceptance"}
RAN = ("passed", "failed")
MODEL_METRIC_LABEL = "io.mlci.model.metric."
MODEL_VERSION_LABEL = "io.mlci.model.version"
PILL_CLASS = {"passed": "ok", "success": "ok", "failed": "bad", "rolled back": "bad", "rollback failed": "bad",
              "interrupted": "warn", "skipped": "warn", "not deployed": "warn"}


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
        "model_version": labels.get(MODEL_VERSION_LABEL),
        "metrics": {key[len(MODEL_METRIC_LABEL):]: float(value) for key, value in labels.items()
                    if key.startswith(MODEL_METRIC_LABEL)},
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


def metric_delta(candidate: float | None, serving: float | None) -> float | None:
    """candidate - serving, rounded so that float noise never shows as a change; None unless both are known."""
    return round(candidate - serving, 6) if candidate is not None and serving is not None else None


def tier_rows(data: ReportData) -> list[dict]:
    evidence = data.evidence or {}
    results = {row["tier"]: row for row in (evidence.get("tests") or data.tests) if "tier" in row}
    coverage = evidence.get("coverage") or {tier: coverage_percent(text) for tier, text in data.coverage_xml.items()}
    tiers = [tier for tier in TIER_ORDER if tier in results or coverage.get(tier) is not None]
    tiers += sorted(set(results) - set(TIER_ORDER))
    return [{**results.get(tier, {"tier": tier}), "coverage": coverage.get(tier)} for tier in tiers
            if stage_ran(data.pipeline, TIER_STAGES.get(tier))]


def rollback_notes(deploy: dict) -> list[str]:
    """For a deploy that did not succeed: per host, why, and which release kept serving (HTML, escaped)."""
    notes = []
    for host in deploy.get("hosts", []):
        result = host.get("result", "")
        if result == "success":
            continue
        where, reason = _text(host.get("host")), _text(host.get("reason") or "no reason recorded")
        if result == "rollback failed":
            notes.append(f"<b>{where}</b>: the rollback failed ({reason}); check what serves there now.")
            continue
        previous = host.get("previous")
        kept = (f"the previous release <code>{_text(previous)}</code> kept serving" if previous
                else "no earlier release was serving there")
        notes.append(f"<b>{where}</b>: {_text(result)}: {reason}; {kept}.")
    if not notes:
        notes.append(f"{_text(deploy.get('reason') or 'see the Deploy stage log')}; "
                     "the previous release kept serving.")
    return notes


# ── HTML pieces ──────────────────────────────────────────────────────────────────────────────────────────────

def _text(value) -> str:
    return "—" if value is None or value == "" else html.escape(str(value))


def _code(value) -> str:
    return "—" if value is None or value == "" else f"<code>{html.escape(str(value))}</code>"


def _number(value, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _pill(status: str) -> str:
    css = PILL_CLASS.get(status, "idle")
    return f'<span class="pill {css}">{_text(status)}</span>'


def _image(png: bytes, alt: str) -> str:
    encoded = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{encoded}" alt="{html.escape(alt)}">'


def _figure(png: bytes, caption: str) -> str:
    return f"<figure>{_image(png, caption)}<figcaption>{_text(caption)}</figcaption></figure>"


def _table(table_id: str, headers: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    """Cells are HTML already escaped by the caller; `numeric` column indexes are right-aligned."""
    def cell(tag: str, index: int, content: str) -> str:
        return f'<{tag} class="num">{content}</{tag}>' if index in numeric else f"<{tag}>{content}</{tag}>"

    head = "".join(cell("th", index, html.escape(name)) for index, name in enumerate(headers))
    body = "".join("<tr>" + "".join(cell("td", index, value) for index, value in enumerate(row)) + "</tr>"
                   for row in rows)
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _facts(pairs: list[tuple[str, str]], css: str = "facts") -> str:
    items = "".join(f"<div><dt>{html.escape(name)}</dt><dd>{value}</dd></div>" for name, value in pairs)
    return f'<dl class="{css}">{items}</dl>'


def _not_run(what: str) -> str:
    return f'<p class="not-run">{html.escape(what)}: not run in this pipeline.</p>'


def _section(section_id: str, title: str, body: str) -> str:
    return f'<section id="{section_id}"><h2>{html.escape(title)}</h2>{body}</section>'


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    minutes, seconds = divmod(round(value), 60)
    return f"{minutes} min {seconds} s" if minutes else f"{value:.1f} s"


def _when(timestamp: str | None) -> str:
    """An ISO 8601 time as a person reads it: in UTC when its zone is known."""
    try:
        moment = datetime.fromisoformat(timestamp)
    except (TypeError, ValueError):
        return _text(timestamp)
    if moment.tzinfo is None:
        return f"{moment:%Y-%m-%d %H:%M:%S}"
    return f"{moment.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S} UTC"


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
    summary = _facts([
        ("Commit", _code(commit[:12] if commit else None)),
        ("Image", _code(candidate.get("image"))),
        ("Model version", _code(candidate.get("model_version"))),
        ("Started", _when(pipeline.get("started_at"))),
        ("Duration", _text(_seconds(_pipeline_seconds(data.pipeline)))),
    ], css="facts summary")
    return (f'<header class="top"><div class="wrap"><div class="title-row"><div>'
            f'<p class="eyebrow">Pipeline report</p><h1>{_text(data.project)}</h1></div>'
            f'<span class="result {PILL_CLASS.get(result, "idle")}" id="overall-result">{_text(result)}</span>'
            f"</div>{summary}</div></header>")


def _stages_section(pipeline: dict | None) -> str:
    rows = stage_rows(pipeline)
    if not rows:
        return _section("stages", "Stages", '<p class="not-run">No stage record: reports/pipeline.json is missing, '
                        "so <code>python -m ci pipeline</code> has not run here.</p>")
    chart = report_charts.stage_durations_chart([(row["stage"], row["seconds"], row["status"]) for row in rows])
    table = _table("stages-table", ["Stage", "Status", "Seconds", "Log"],
                   [[_text(row["stage"]), _pill(row["status"]), _number(row["seconds"], 1), _code(row["log"])]
                    for row in rows], numeric={2})
    return _section("stages", "Stages", f'<div class="split">{_figure(chart, "Stage durations")}{table}</div>')


def _quality_section(data: ReportData, candidate: dict, gates: dict | None) -> str:
    quality = ((gates or {}).get("gates") or {}).get("model_quality")
    if not candidate.get("metrics") and not quality:
        return _section("quality", "Model quality", _not_run("Model evaluation"))
    parts = [_gate_verdict("Model quality gate", quality, _quality_detail(quality)) if quality
             else _not_run("The acceptance gates")]
    thresholds = (gates or {}).get("thresholds") or {}
    # Without a recorded candidate (no build report) the metrics the gate measured stand for it.
    measured = {"metrics": (quality or {}).get("measured") or {}}
    parts.append(_metrics_table(candidate if candidate.get("metrics") else measured,
                                serving_comparisons(data, gates), thresholds))
    if quality:
        parts.append(_quality_charts(quality, candidate))
    return _section("quality", "Model quality", "".join(parts))


def _quality_charts(quality: dict, candidate: dict) -> str:
    figures = []
    matrix = quality.get("confusion_matrix")
    if matrix:
        labels = quality.get("labels_order") or [str(index) for index in range(len(matrix))]
        figures.append(_figure(report_charts.confusion_matrix_chart(matrix, labels),
                               "Confusion matrix of the candidate (held-out split, over HTTP)"))
    roc = quality.get("roc_curve") or {}
    if roc.get("fpr"):
        auc = (quality.get("measured") or {}).get("roc_auc", (candidate.get("metrics") or {}).get("roc_auc"))
        figures.append(_figure(report_charts.roc_curve_chart(roc["fpr"], roc["tpr"], auc),
                               "ROC curve of the candidate"))
    if not figures:
        return '<p class="note">This acceptance run recorded no confusion matrix or ROC curve.</p>'
    return f'<div class="charts">{"".join(figures)}</div>'


def _quality_detail(quality: dict) -> str:
    records = quality.get("evaluated_records")
    return f"measured over HTTP on {records} held-out records" if records else "measured over HTTP"


def _gate_verdict(name: str, gate: dict, detail: str) -> str:
    status = "passed" if gate.get("passed") else "failed"
    failures = "".join(f"<li>{_text(failure)}</li>" for failure in gate.get("failures") or [])
    listed = f"<ul class='failures'>{failures}</ul>" if failures else ""
    return f'<p class="verdict">{_pill(status)} <b>{html.escape(name)}</b> — {html.escape(detail)}</p>{listed}'


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
        row = [_code(name), _number(metrics.get(name))]
        for item in compared:
            serving = item["metrics"].get(name)
            row += [_number(serving), _delta(name, metric_delta(metrics.get(name), serving))]
        minimum = thresholds.get(f"min_{name}")
        rows.append(row + ([f"≥ {_text(minimum)}" if minimum is not None else ""] if thresholds else []))
    parts = [_table("metrics-table", headers + (["Gate"] if thresholds else []), rows,
                    numeric=set(range(1, len(headers))))]
    parts += [f'<p class="note">{_text(item["label"])}: {_text(item["note"] or "no serving model to compare with")}'
              "</p>" for item in comparisons if not item["metrics"]]
    for index, item in enumerate(compared):
        if item["metadata_diff"]:
            parts.append(f"<h3>Metadata that differs from {_text(item['label'])}</h3>")
            parts.append(_table(f"metadata-diff-{index}", ["Key", "Candidate", "Serving"],
                                [[_code(diff.get("key")), _code(diff.get("candidate")), _code(diff.get("serving"))]
                                 for diff in item["metadata_diff"]]))
    return "".join(parts)


def _version_suffix(model_version: str | None) -> str:
    return f" ({model_version})" if model_version else ""


def _delta(metric: str, delta: float | None) -> str:
    if delta is None:
        return "—"
    if delta == 0:
        return f"{delta:+.4f}"
    better = (delta < 0) == (metric in LOWER_IS_BETTER)
    return f'<span class="{"better" if better else "worse"}">{delta:+.4f}</span>'


def _latency_section(gates: dict | None) -> str:
    latency = ((gates or {}).get("gates") or {}).get("latency")
    if not latency:
        return _section("latency", "Latency", _not_run("The latency gate"))
    budget = latency.get("budget_p95_ms")
    facts = _facts([("p50", _text(_ms(latency.get("p50_ms")))), ("p95", _text(_ms(latency.get("p95_ms")))),
                    ("p99", _text(_ms(latency.get("p99_ms")))), ("p95 budget", _text(_ms(budget))),
                    ("Requests", _text(latency.get("requests"))), ("Errors", _text(latency.get("errors")))],
                   css="facts compact")
    verdict = _gate_verdict("Latency gate", latency, "sequential single-record requests after a warm-up")
    histogram = latency.get("histogram") or {}
    if histogram.get("counts"):
        chart = report_charts.latency_histogram_chart(histogram["edges_ms"], histogram["counts"],
                                                      latency.get("p50_ms"), latency.get("p95_ms"),
                                                      latency.get("p99_ms"), budget)
        picture = _figure(chart, "Single-record request latency")
    else:
        picture = '<p class="note">This acceptance run recorded no latency histogram.</p>'
    return _section("latency", "Latency", verdict + facts + picture)


def _ms(value) -> str | None:
    return None if value is None else f"{value:g} ms"


def _tests_section(data: ReportData) -> str:
    rows = tier_rows(data)
    lint = (data.evidence or {}).get("lint") or data.lint
    if not rows and not lint:
        return _section("tests", "Tests and coverage", _not_run("Tests and lint"))
    parts = []
    if rows:
        parts.append(_table("tests-table", ["Tier", "Passed", "Failed", "Errors", "Skipped", "Seconds",
                                            "Line coverage"],
                            [[_text(row["tier"]), _text(row.get("passed")), _count(row.get("failed")),
                              _count(row.get("errors")), _text(row.get("skipped")), _number(row.get("seconds"), 1),
                              _text(None if row["coverage"] is None else f"{row['coverage']:.1f} %")]
                             for row in rows], numeric={1, 2, 3, 4, 5, 6}))
    else:
        parts.append(_not_run("Test tiers"))
    if lint and stage_ran(data.pipeline, "Lint"):
        findings = lint.get("findings", 0)
        parts.append(f'<p class="verdict">{_pill("passed" if findings == 0 else "failed")} '
                     f"<b>flake8</b> — {_text(findings)} finding(s)</p>")
    else:
        parts.append(_not_run("Lint"))
    return _section("tests", "Tests and coverage", "".join(parts))


def _count(value) -> str:
    return f'<span class="worse">{_text(value)}</span>' if value else _text(value)


def _release_section(candidate: dict) -> str:
    if not candidate.get("image"):
        return _section("release", "Release", _not_run("The image build"))
    digest = candidate.get("digest")
    return _section("release", "Release", _facts([
        ("Image", _code(candidate.get("image"))),
        ("Image id", _code(candidate.get("image_id"))),
        ("Registry digest", _code(digest) if digest else "not pushed to a registry"),
        ("Tags", " ".join(_code(tag) for tag in candidate.get("tags") or []) or "—"),
        ("Model version", _code(candidate.get("model_version"))),
    ], css="facts rows"))


def _deploy_section(data: ReportData) -> str:
    deploy = data.deploy
    if not deploy or not stage_ran(data.pipeline, "Deploy"):
        return _section("deploy", "Deploy", _not_run("The deploy"))
    hosts = deploy.get("hosts", [])
    result = deploy.get("result", "")
    urls = " ".join(_code(host.get("public_url")) for host in hosts if host.get("public_url")) or "—"
    parts = []
    if result != "success":
        notes = "".join(f"<li>{note}</li>" for note in rollback_notes(deploy))
        parts.append(f'<div class="callout" id="rollback"><b>The deploy did not succeed.</b>'
                     f"<ul>{notes}</ul></div>")
    parts.append(_facts([
        ("Environment", _text(deploy.get("environment"))), ("Result", _pill(result or "unknown")),
        ("Release", _code(deploy.get("release"))), ("Public URL", urls),
        ("Failed requests during cutover", _text(deploy.get("failed_requests_during_cutover"))),
        ("Approved by", _text(deploy.get("approved_by"))),
    ]))
    if hosts:
        parts.append(_table("deploy-hosts-table", ["Host", "Result", "Release", "Previous", "Failed requests",
                                                   "Reason"],
                            [[_code(host.get("host")), _pill(host.get("result", "")), _code(host.get("release")),
                              _code(host.get("previous")), _text((host.get("durations") or {}).get("failed_requests")),
                              _text(host.get("reason"))] for host in hosts], numeric={4}))
    return _section("deploy", "Deploy", "".join(parts))


def build_pipeline_report(data: ReportData) -> str:
    """The whole page as one HTML string."""
    candidate = candidate_release(data)
    gates = gates_report(data)
    body = "".join([
        _stages_section(data.pipeline),
        _quality_section(data, candidate, gates),
        _latency_section(gates),
        _tests_section(data),
        _release_section(candidate),
        _deploy_section(data),
    ])
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_text(data.project)} — pipeline report</title><style>{STYLE}</style></head>"
            f"<body>{_header(data, candidate)}<main class=\"wrap\">{body}</main>"
            f'<footer class="wrap">Generated by <code>python -m ci report</code> at {_when(data.generated_at)}'
            f"</footer><script>{IMAGE_CHECK_SCRIPT}</script></body></html>\n")


# After load, record on <body> how many images the browser decoded: a headless browser's dumped DOM then proves
# that every embedded chart renders.
IMAGE_CHECK_SCRIPT = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var loaded = images.filter(function (image) { return image.complete && image.naturalWidth > 0; }).length;
  document.body.setAttribute("data-images-loaded", String(loaded));
  document.body.setAttribute("data-images-broken", String(images.length - loaded));
});
"""

STYLE = """
:root { --ink: #202124; --muted: #5f6368; --line: #e3e6ea; --page: #f4f6f8; --ok: #137333; --ok-bg: #e6f4ea;
  --bad: #b3261e; --bad-bg: #fce8e6; --warn: #8a5300; --warn-bg: #fef3d6; --idle-bg: #eef0f2; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: var(--page);
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
.wrap { max-width: 1180px; margin: 0 auto; padding: 0 32px; }
header.top { background: #fff; border-bottom: 1px solid var(--line); padding: 28px 0 22px; }
.title-row { display: flex; justify-content: space-between; align-items: center; gap: 16px; }
.eyebrow { margin: 0; font-size: 12px; letter-spacing: .08em; text-transform: uppercase; color: var(--muted); }
h1 { margin: 2px 0 0; font-size: 26px; font-weight: 650; }
h2 { margin: 0 0 16px; font-size: 18px; font-weight: 650; }
h3 { margin: 20px 0 8px; font-size: 13px; font-weight: 600; color: var(--muted); }
.result { padding: 6px 18px; border-radius: 999px; font-size: 14px; font-weight: 700; letter-spacing: .05em;
  text-transform: uppercase; }
main.wrap { padding-top: 24px; padding-bottom: 8px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 22px 26px;
  margin-bottom: 20px; }
.facts { display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); gap: 14px 28px;
  margin: 0 0 16px; }
.compact { grid-template-columns: repeat(auto-fit, minmax(120px, 1fr)); }
.rows { grid-template-columns: 1fr; gap: 0; }
.rows > div { display: grid; grid-template-columns: 180px minmax(0, 1fr); padding: 9px 0;
  border-bottom: 1px solid var(--line); }
.rows dt { font-size: 13px; }
.rows dd { margin: 0; }
.summary { display: flex; flex-wrap: wrap; gap: 14px 48px; margin: 22px 0 0; }
dt { font-size: 12px; color: var(--muted); }
dd { margin: 2px 0 0; font-weight: 500; overflow-wrap: anywhere; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; margin-bottom: 8px; }
th { padding: 8px 12px; border-bottom: 2px solid var(--line); text-align: left; font-size: 12px; font-weight: 600;
  color: var(--muted); }
td { padding: 8px 12px; border-bottom: 1px solid var(--line); vertical-align: middle; }
tbody tr:nth-child(even) { background: #fafbfc; }
.num { text-align: right; }
code { font: 12.5px ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; overflow-wrap: anywhere; }
.pill { display: inline-block; padding: 1px 10px; border-radius: 999px; font-size: 12px; font-weight: 600;
  white-space: nowrap; }
.ok { color: var(--ok); background: var(--ok-bg); }
.bad { color: var(--bad); background: var(--bad-bg); }
.warn { color: var(--warn); background: var(--warn-bg); }
.idle { color: var(--muted); background: var(--idle-bg); }
.better { color: var(--ok); font-weight: 600; }
.worse { color: var(--bad); font-weight: 600; }
.verdict { margin: 0 0 14px; }
.failures { margin: -6px 0 14px; color: var(--bad); }
.note { color: var(--muted); font-size: 13px; }
.not-run:not(:last-child) { margin-bottom: 14px; }
.not-run { margin: 0; padding: 12px 16px; border-radius: 8px; background: var(--idle-bg); color: var(--muted); }
.callout { margin: 0 0 18px; padding: 12px 16px; border-left: 4px solid var(--bad); border-radius: 6px;
  background: var(--bad-bg); }
.callout ul { margin: 6px 0 0; padding-left: 20px; }
.split { display: grid; grid-template-columns: auto minmax(0, 1fr); gap: 28px; align-items: start; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 20px;
  margin-top: 18px; }
figure { margin: 0; }
figure img { display: block; max-width: 100%; height: auto; }
td code { white-space: nowrap; }
figcaption { margin-top: 4px; font-size: 12px; color: var(--muted); }
footer.wrap { padding-bottom: 32px; font-size: 12px; color: var(--muted); }
"""
