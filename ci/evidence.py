"""The evidence bundle a release manager reads before approving: pure functions over data already loaded.

What goes in: test results per tier, line coverage per tier, flake8 findings, the acceptance gates, the
candidate image (id, registry digest, tags) and, per deploy environment, the candidate model against the
model that environment serves now: metric deltas and every metadata key that differs.
"""

# Higher is better for every gated metric but log_loss.
LOWER_IS_BETTER = frozenset({"log_loss"})


def flatten(data: dict, prefix: str = "") -> dict[str, object]:
    """{"a": {"b": 1}} → {"a.b": 1}; lists stay values (feature lists compare as a whole)."""
    flat: dict[str, object] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def metadata_diff(candidate: dict, serving: dict) -> list[dict]:
    ours, theirs = flatten(candidate), flatten(serving)
    return [{"key": key, "candidate": ours.get(key), "serving": theirs.get(key)}
            for key in sorted(set(ours) | set(theirs)) if ours.get(key) != theirs.get(key)]


def metric_delta(candidate: float | None, serving: float | None) -> float | None:
    """candidate - serving, rounded so that float noise never shows as a change; None unless both are known."""
    known = isinstance(candidate, (int, float)) and isinstance(serving, (int, float))
    return round(candidate - serving, 6) if known else None


def not_worse(metric: str, delta: float) -> bool:
    return delta <= 0 if metric in LOWER_IS_BETTER else delta >= 0


def metric_deltas(candidate: dict, serving: dict | None) -> list[dict]:
    rows = []
    for metric in sorted(candidate):
        theirs = (serving or {}).get(metric)
        delta = metric_delta(candidate[metric], theirs)
        rows.append({"metric": metric, "candidate": candidate[metric], "serving": theirs, "delta": delta,
                     "not_worse": None if delta is None else not_worse(metric, delta)})
    return rows


def comparison(environment: str, serving_url: str | None, candidate_metadata: dict,
               serving_metadata: dict | None, problem: str = "") -> dict:
    """One environment's view: what serves there now and how the candidate differs from it."""
    if serving_metadata is None:
        return {"environment": environment, "serving_url": serving_url, "serving": None,
                "note": problem or "no model serves there yet: this is its first release",
                "metric_deltas": metric_deltas(candidate_metadata.get("metrics", {}), None), "metadata_diff": []}
    return {
        "environment": environment, "serving_url": serving_url,
        "serving": {"model_version": serving_metadata.get("model_version"),
                    "metrics": serving_metadata.get("metrics", {})},
        "note": problem,
        "metric_deltas": metric_deltas(candidate_metadata.get("metrics", {}), serving_metadata.get("metrics", {})),
        "metadata_diff": metadata_diff(candidate_metadata, serving_metadata),
    }


def candidate_summary(build_report: dict, metadata: dict) -> dict:
    model = build_report["images"]["model"]
    pushed = build_report.get("push", {})
    return {"image": model["reference"], "image_id": model["image_id"], "digest": pushed.get("digest"),
            "image_by_digest": pushed.get("image_by_digest"), "tags": pushed.get("references") or model["references"],
            "model_version": metadata.get("model_version"), "metrics": metadata.get("metrics", {}),
            # What is inside the image (reports/sbom.cdx.json, CycloneDX) and which base it was built on.
            "sbom": build_report.get("sbom"), "base_image_id": build_report.get("base_image_id")}


def approval_blockers(bundle: dict) -> list[str]:
    """What should stop a release manager: a report from another run, failed tiers, failed gates, lint findings."""
    blockers = list(bundle.get("stale", []))
    blockers += [f"{tier['tier']}: {tier['failed'] + tier['errors']} test(s) failed"
                 for tier in bundle["tests"] if tier["failed"] + tier["errors"]]
    gates = bundle.get("gates")
    if gates is None:
        blockers.append("no acceptance gate results (reports/acceptance/gates.json)")
    elif not gates.get("passed"):
        blockers.append("acceptance gates failed: " + ", ".join(
            name for name, gate in gates.get("gates", {}).items() if not gate.get("passed")))
    if bundle["lint"].get("findings"):
        blockers.append(f"flake8: {bundle['lint']['findings']} finding(s)")
    return blockers


def evidence_text(bundle: dict) -> list[str]:
    """The bundle as a person reads it in a terminal or in reports/evidence.md."""
    candidate = bundle["candidate"]
    lines = ["# Release evidence", "", f"Run:       {bundle.get('run') or 'not recorded'}",
             f"Candidate: {candidate['image']}  model {candidate['model_version']}",
             f"Image id:  {candidate['image_id']}",
             f"Digest:    {candidate['digest'] or 'not pushed'}", "", "## Tests"]
    for tier in bundle["tests"]:
        coverage = bundle["coverage"].get(tier["tier"])
        lines.append(f"- {tier['tier']}: {tier['passed']} passed, {tier['failed'] + tier['errors']} failed, "
                     f"{tier['skipped']} skipped" + (f"; line coverage {coverage}%" if coverage is not None else ""))
    lines += ["", f"## Lint\n- flake8: {bundle['lint'].get('findings', 'not run')} finding(s)", "", "## Gates"]
    gates = bundle.get("gates") or {}
    if not gates.get("gates"):
        lines.append("- no gate results: the acceptance tier did not run")
    for name, gate in sorted(gates.get("gates", {}).items()):
        detail = gate.get("measured") or {key: gate[key] for key in ("p50_ms", "p95_ms", "p99_ms") if key in gate}
        lines.append(f"- {name}: {'PASS' if gate.get('passed') else 'FAIL'} {detail}")
    for compared in bundle["comparisons"]:
        serving = compared["serving"]
        lines += ["", f"## Against what {compared['environment']} serves ({compared['serving_url'] or 'no URL'})"]
        if serving is None:
            lines.append(f"- {compared['note']}")
            continue
        lines.append(f"- serving model {serving['model_version']}")
        for row in compared["metric_deltas"]:
            if row["delta"] is not None:
                verdict = "" if row["not_worse"] else "  (worse)"
                lines.append(f"- {row['metric']}: {row['candidate']} vs {row['serving']} "
                             f"({row['delta']:+.4f}){verdict}")
        changed = [row["key"] for row in compared["metadata_diff"]]
        lines.append(f"- metadata keys that differ ({len(changed)}): {', '.join(changed) or 'none'}")
    blockers = bundle["blockers"]
    lines += ["", "## Verdict", *(f"- BLOCKER: {blocker}" for blocker in blockers)] if blockers else \
        ["", "## Verdict", "- nothing blocks this release"]
    return lines
