"""The evidence bundle's pure parts: model vs the serving model, coverage, blockers and the text shown."""

from ci import evidence

CANDIDATE = {"model_version": "1.0.0+bbb", "metrics": {"accuracy": 0.96, "roc_auc": 0.99, "log_loss": 0.10},
             "artifact": {"sha256": "bbb", "size_bytes": 10}, "hyperparameters": {"n_estimators": 100}}
SERVING = {"model_version": "1.0.0+aaa", "metrics": {"accuracy": 0.95, "roc_auc": 0.995, "log_loss": 0.12},
           "artifact": {"sha256": "aaa", "size_bytes": 10}, "hyperparameters": {"n_estimators": 100}}


def bundle(**overrides) -> dict:
    data = {
        "candidate": {"image": "svc:abc", "image_id": "sha256:1", "digest": "sha256:2", "tags": ["r/svc:abc"],
                      "model_version": "1.0.0+bbb", "metrics": CANDIDATE["metrics"]},
        "tests": [{"tier": "unit", "passed": 10, "failed": 0, "errors": 0, "skipped": 0, "seconds": 1.0}],
        "coverage": {"unit": 91.5}, "lint": {"findings": 0},
        "gates": {"passed": True, "gates": {"latency": {"passed": True, "p95_ms": 3.1}}},
        "comparisons": [evidence.comparison("local", "http://127.0.0.1:8088", CANDIDATE, SERVING)],
    }
    data.update(overrides)
    data["blockers"] = evidence.approval_blockers(data)
    return data


def test_the_metadata_diff_names_every_key_that_differs_and_only_those():
    keys = [row["key"] for row in evidence.metadata_diff(CANDIDATE, SERVING)]
    assert keys == ["artifact.sha256", "metrics.accuracy", "metrics.log_loss", "metrics.roc_auc", "model_version"]


def test_metric_deltas_know_that_a_lower_log_loss_is_better():
    rows = {row["metric"]: row for row in evidence.metric_deltas(CANDIDATE["metrics"], SERVING["metrics"])}
    assert rows["accuracy"]["delta"] == 0.01 and rows["accuracy"]["not_worse"] is True
    assert rows["roc_auc"]["delta"] == -0.005 and rows["roc_auc"]["not_worse"] is False
    assert rows["log_loss"]["delta"] == -0.02 and rows["log_loss"]["not_worse"] is True


def test_a_first_release_has_no_serving_model_and_says_why():
    compared = evidence.comparison("staging", "http://s:8080", CANDIDATE, None, "nothing answers at http://s:8080")
    assert compared["serving"] is None and compared["metadata_diff"] == []
    assert compared["note"] == "nothing answers at http://s:8080"
    assert all(row["serving"] is None and row["delta"] is None for row in compared["metric_deltas"])


def test_nothing_blocks_a_clean_release():
    assert bundle()["blockers"] == []


def test_failed_tests_failed_gates_lint_findings_and_missing_gates_block():
    failing = bundle(tests=[{"tier": "integration", "passed": 3, "failed": 1, "errors": 1, "skipped": 0,
                             "seconds": 1.0}],
                     gates={"passed": False,
                            "gates": {"latency": {"passed": False}, "model_quality": {"passed": True}}},
                     lint={"findings": 2})
    assert failing["blockers"] == ["integration: 2 test(s) failed", "acceptance gates failed: latency",
                                   "flake8: 2 finding(s)"]
    assert bundle(gates=None)["blockers"] == ["no acceptance gate results (reports/acceptance/gates.json)"]


def test_the_text_shows_digest_tests_coverage_gates_deltas_and_verdict():
    text = "\n".join(evidence.evidence_text(bundle()))
    assert "Digest:    sha256:2" in text
    assert "- unit: 10 passed, 0 failed, 0 skipped; line coverage 91.5%" in text
    assert "- latency: PASS" in text
    assert "- roc_auc: 0.99 vs 0.995 (-0.0050)  (worse)" in text
    assert "metadata keys that differ (5): artifact.sha256" in text
    assert "nothing blocks this release" in text
    blocked = "\n".join(evidence.evidence_text(bundle(lint={"findings": 1})))
    assert "BLOCKER: flake8: 1 finding(s)" in blocked


def test_the_candidate_names_its_sbom_and_its_base_image_by_id():
    sbom = {"path": "reports/sbom.cdx.json", "sha256": "c" * 64, "python_packages": 15, "os_packages": 118}
    build = {"images": {"model": {"reference": "svc:abc", "image_id": "sha256:1", "references": ["svc:abc"]}},
             "sbom": sbom, "base_image_id": "sha256:" + "b" * 64}
    candidate = evidence.candidate_summary(build, {"model_version": "1.0.0"})
    assert candidate["sbom"] == sbom and candidate["base_image_id"] == "sha256:" + "b" * 64
