"""The build host's trust files (ci/build_trust.py): what goes into the build context, and never a credential
(issue 14, defect 4: sources were copied unchecked, and the check missed a password holding a '/')."""

import pytest

from ci.build_trust import carries_credentials, trust_files

SECRETS = ("S3cret-m1rror", "pa/ss", "ghp_planted0token", "tok%2Fen")


def host_root(tmp_path):
    apt = tmp_path / "etc/apt"
    (apt / "sources.list.d").mkdir(parents=True)
    (apt / "apt.conf.d").mkdir()
    (tmp_path / "etc/ssl/certs").mkdir(parents=True)
    (tmp_path / "etc/ssl/certs/ca-certificates.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    (apt / "sources.list").write_text("deb http://mirror-user:S3cret-m1rror@mirror.example/debian bookworm main\n")
    (apt / "sources.list.d/debian.sources").write_text(
        "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\n")
    (apt / "sources.list.d/private.list").write_text("deb https://ghp_planted0token@apt.example/ stable main\n")
    (apt / "sources.list.d/deb822-private.sources").write_text(
        "Types: deb\nURIs: https://ci:tok%2Fen@apt.example/debian\nSuites: bookworm\nComponents: main\n")
    (apt / "apt.conf.d/01proxy").write_text('Acquire::http::Proxy "http://ci:pa/ss@proxy.example:3128";\n')
    (apt / "apt.conf.d/02retries").write_text('Acquire::Retries "3";\n')
    return tmp_path


def test_no_file_that_carries_a_credential_goes_into_the_build(tmp_path):
    files = trust_files(host_root(tmp_path))
    assert sorted(files) == ["apt/apt.conf.d/02retries", "apt/sources.list.d/debian.sources", "ca-certificates.crt"]
    for source in files.values():
        text = source.read_text()
        assert not any(secret in text for secret in SECRETS), source


@pytest.mark.parametrize("text", [
    "deb http://user:S3cret@mirror/debian bookworm main",
    'Acquire::http::Proxy "http://ci:pa/ss@proxy:3128";',
    "URIs: https://token@apt.example/debian",
    "deb [trusted=yes] ftp://anonymous:me%40example.org@ftp.example/debian stable main",
])
def test_credentials_in_any_url_form_are_recognised(text):
    assert carries_credentials(text)


@pytest.mark.parametrize("text", [
    "deb http://deb.debian.org/debian bookworm main",
    "# mail root@example.org about this mirror",
    'Acquire::https::Verify-Peer "true";',
])
def test_text_without_credentials_is_kept(text):
    assert not carries_credentials(text)
