"""Test results as the tiers left them under reports/: JUnit per tier and Cobertura line coverage."""

from pathlib import Path
from xml.etree import ElementTree

from ci.reports import REPORTS_DIR, TIER_STAMP, tier_run
from ci.test_plan import TIERS, read_junit


def tier_results(root: Path) -> list[dict]:
    """Each tier that has run (its reports/<tier>/junit.xml exists), in pipeline order, with the run it came from."""
    reports = root / REPORTS_DIR
    return [{**read_junit(tier, reports / tier / "junit.xml").__dict__, "run": tier_run(root, tier)} for tier in TIERS
            if (reports / tier / "junit.xml").exists()]


def tier_runs(root: Path) -> dict[str, str | None]:
    """The run of each tier directory present under reports/, keyed by the stamp's path (its files' voucher)."""
    reports = root / REPORTS_DIR
    return {f"{tier}/{TIER_STAMP}": tier_run(root, tier) for tier in TIERS if (reports / tier).is_dir()}


def coverage_percent(cobertura_xml: str) -> float | None:
    """Line coverage in percent from a Cobertura report's root `line-rate` (what Jenkins's recordCoverage
    reads); None if it cannot be read."""
    try:
        rate = ElementTree.fromstring(cobertura_xml).get("line-rate")
    except ElementTree.ParseError:
        return None
    return round(float(rate) * 100, 1) if rate is not None else None


def coverage_xml_by_tier(root: Path) -> dict[str, str]:
    reports = root / REPORTS_DIR
    return {tier: (reports / tier / "coverage.xml").read_text() for tier in TIERS
            if (reports / tier / "coverage.xml").exists()}
