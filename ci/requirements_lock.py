"""Pin every requirement by hash: `python3 -m ci.requirements_lock` rewrites requirements/*.txt so that each
`name==version` carries the sha256 of every file the package index has for that version (every platform's wheel
and the sdist), and pip installs them with `--require-hashes` (ci/bootstrap.py, docker/pip-install.sh).

Standard library only, like ci/bootstrap.py: it must run before the pinned environment exists. It asks the index's
JSON simple API (PEP 691) at PIP_INDEX_URL's host, or PyPI. Re-run it after changing a pin; `--check` says whether
the files are locked (the unit tier checks that every line is).
"""

import json
import os
import re
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "requirements"
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)")
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def logical_lines(text: str) -> list[str]:
    """Lines with their backslash continuations joined."""
    lines, current = [], ""
    for raw in text.splitlines():
        if raw.rstrip().endswith("\\"):
            current += raw.rstrip()[:-1] + " "
            continue
        lines.append(current + raw)
        current = ""
    if current:
        lines.append(current)
    return lines


def pins(text: str) -> list[tuple[str, str, list[str]]]:
    """(name, version, hashes) of every pinned requirement in a requirements file's text."""
    found = []
    for line in logical_lines(text):
        match = PIN.match(line.strip())
        if match:
            found.append((match["name"], match["version"], [h.split(":", 1)[1] for h in HASH.findall(line)]))
    return found


def unlocked(text: str) -> list[str]:
    """Requirement lines that are not `name==version` with at least one hash."""
    problems = []
    for line in logical_lines(text):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", "-r ")):
            continue
        if not PIN.match(stripped) or not HASH.search(stripped):
            problems.append(stripped.split()[0])
    return problems


def locked_text(text: str, hashes_of) -> str:
    """The file's text with each pin followed by its hashes (hashes_of(name, version) -> sorted sha256 list)."""
    out = []
    for line in logical_lines(text):
        match = PIN.match(line.strip())
        if not match:
            out.append(line)
            continue
        digests = hashes_of(match["name"], match["version"])
        if not digests:
            raise SystemExit(f"{match['name']}=={match['version']}: the index has no file for it")
        out.append(f"{match['name']}=={match['version']} \\")
        out.extend(f"    --hash=sha256:{digest}" + (" \\" if index < len(digests) - 1 else "")
                   for index, digest in enumerate(digests))
    return "\n".join(out) + "\n"


def index_hashes(index: str):
    cache: dict[str, dict] = {}

    def hashes_of(name: str, version: str) -> list[str]:
        project = normalized(name)
        if project not in cache:
            request = urllib.request.Request(f"{index}/{project}/",
                                             headers={"Accept": "application/vnd.pypi.simple.v1+json"})
            with urllib.request.urlopen(request, timeout=60) as response:
                cache[project] = json.load(response)
        files = cache[project]["files"]
        return sorted({entry["hashes"]["sha256"] for entry in files
                       if _version_of(entry["filename"], project) == version and "sha256" in entry["hashes"]})

    return hashes_of


def _version_of(filename: str, project: str) -> str:
    """The version a distribution file of `project` holds ("" for another project's or an unknown kind of file)."""
    if filename.endswith(".whl"):
        name, version = filename.split("-")[:2]
    elif filename.endswith((".tar.gz", ".zip")):
        name, _, version = filename.removesuffix(".tar.gz").removesuffix(".zip").rpartition("-")
    else:
        return ""
    return version if normalized(name) == project else ""


def main(argv: list[str]) -> int:
    files = sorted(REQUIREMENTS.glob("*.txt"))
    if "--check" in argv:
        problems = {path.name: unlocked(path.read_text()) for path in files}
        problems = {name: lines for name, lines in problems.items() if lines}
        for name, lines in problems.items():
            print(f"{name}: not locked by hash: {', '.join(lines)}", file=sys.stderr)
        return 1 if problems else 0
    index = os.environ.get("MLCI_LOCK_INDEX", "https://pypi.org/simple").rstrip("/")
    hashes_of = index_hashes(index)
    for path in files:
        path.write_text(locked_text(path.read_text(), hashes_of))
        print(f"locked {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
