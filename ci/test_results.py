"""Test results as the tiers left them under reports/: JUnit per tier and Cobertura line coverage."""

from pathlib import Path
from xml.etree import ElementTree

from ci.reports import REPORTS_DIR
from ci.test_plan import TIERS, read_junit


def tier_results(root: Path) -> list[dict]:
    """Each tier that has run (its reports/<tier>/junit.xml exists), in pipeline order."""
    reports = root / REPORTS_DIR
    return [read_junit(tier, reports / tier / "junit.xml").__dict__ for tier in TIERS
            if (reports / tier / "junit.xml").exists()]


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
