"""Reading what the tiers left under reports/."""

from ci.test_results import coverage_percent, coverage_xml_by_tier, tier_results

JUNIT = '<testsuite name="{0}" tests="4" failures="1" errors="0" skipped="1" time="2.5"></testsuite>'


def test_every_tier_that_ran_is_read_in_pipeline_order(tmp_path):
    for tier in ("integration", "unit"):
        (tmp_path / "reports" / tier).mkdir(parents=True)
        (tmp_path / "reports" / tier / "junit.xml").write_text(JUNIT.format(tier))
    (tmp_path / "reports" / "unit" / "coverage.xml").write_text('<coverage line-rate="0.8734"/>')
    results = tier_results(tmp_path)
    assert [row["tier"] for row in results] == ["unit", "integration"]
    assert (results[0]["passed"], results[0]["failed"], results[0]["skipped"]) == (2, 1, 1)
    assert coverage_xml_by_tier(tmp_path) == {"unit": '<coverage line-rate="0.8734"/>'}


def test_line_coverage_is_read_from_cobertura_and_unreadable_reports_are_none():
    assert coverage_percent('<coverage line-rate="0.8734" branch-rate="0"></coverage>') == 87.3
    assert coverage_percent("<coverage/>") is None
    assert coverage_percent("not xml") is None
