"""Every dependency pinned by hash and installed with --require-hashes (issue 14, defect 9: nothing was)."""

from pathlib import Path

import pytest

from ci import bootstrap, requirements_lock

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("path", sorted((ROOT / "requirements").glob("*.txt")), ids=lambda path: path.name)
def test_every_requirement_is_pinned_with_its_hashes(path):
    assert requirements_lock.unlocked(path.read_text()) == []
    assert all(hashes for _, _, hashes in requirements_lock.pins(path.read_text()))


def test_a_pin_without_a_hash_or_a_range_is_reported():
    text = "# comment\n-r ci.txt\nrequests==2.34.2\nflask>=3\nnumpy==2.4.6 \\\n    --hash=sha256:" + "a" * 64 + "\n"
    assert requirements_lock.unlocked(text) == ["requests==2.34.2", "flask>=3"]


def test_the_project_environment_and_every_image_install_with_require_hashes():
    command = bootstrap.pip_install_command(Path("/venv"), ROOT)
    assert "--require-hashes" in command and "--no-deps" in command
    install_lines = [line for line in (ROOT / "docker/pip-install.sh").read_text().splitlines()
                     if " install " in line and not line.lstrip().startswith("#")]
    assert install_lines and all("--require-hashes" in line for line in install_lines)


def test_locking_writes_every_file_hash_of_the_version_and_keeps_comments():
    hashes = {("orjson", "3.13.0"): ["1" * 64, "2" * 64]}
    text = requirements_lock.locked_text("# serve\norjson==3.13.0\n", lambda name, version: hashes[name, version])
    assert text == f"# serve\norjson==3.13.0 \\\n    --hash=sha256:{'1' * 64} \\\n    --hash=sha256:{'2' * 64}\n"
    assert requirements_lock.pins(text) == [("orjson", "3.13.0", ["1" * 64, "2" * 64])]
    assert requirements_lock.locked_text(text, lambda name, version: hashes[name, version]) == text  # idempotent


@pytest.mark.parametrize("filename, project, version", [
    ("multi_key_dict-2.0.3.tar.gz", "multi-key-dict", "2.0.3"),
    ("numpy-2.4.6-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl", "numpy", "2.4.6"),
    ("charset_normalizer-3.5.3-py3-none-any.whl", "charset-normalizer", "3.5.3"),
    ("other-1.0.tar.gz", "numpy", ""),
])
def test_the_version_of_a_distribution_file(filename, project, version):
    assert requirements_lock._version_of(filename, project) == version
