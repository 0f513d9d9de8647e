"""What a machine reads: JSON and other files under reports/, the directory Jenkins archives."""

import json
from pathlib import Path

REPORTS_DIR = "reports"


def report_path(root: Path, relative: str) -> Path:
    path = root / REPORTS_DIR / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_json_report(root: Path, relative: str, data: dict) -> Path:
    path = report_path(root, relative)
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    return path


def read_json_report(root: Path, relative: str) -> dict | None:
    path = root / REPORTS_DIR / relative
    if not path.exists():
        return None
    return json.loads(path.read_text())
