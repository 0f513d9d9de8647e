"""ci/deploy/sessions.py: one session open at a time, each closed, and the credentials' copies removed, however the
block ends."""

from types import SimpleNamespace

import pytest

from ci.deploy import sessions


def test_sessions_open_one_at_a_time_and_everything_closes_when_the_reader_fails(monkeypatch):
    events = []

    class Session:
        def __init__(self, address, key, known):
            self.address = str(address)
            events.append(f"open {self.address}")

        def close(self):
            events.append(f"close {self.address}")

    monkeypatch.setattr(sessions, "ssh_credentials", lambda environment, environ, root: SimpleNamespace(
        key_file="k", known_hosts_file="kh", cleanup=lambda: events.append("cleanup")))
    monkeypatch.setattr(sessions, "SshHost", Session)
    environment = SimpleNamespace(hosts=("deploy@10.0.0.5:22", "deploy@10.0.0.6:22", "deploy@10.0.0.7:22"))
    with pytest.raises(RuntimeError):
        with sessions.host_by_host(environment, {}, None) as hosts:
            for text, session in hosts:
                events.append(f"read {text}")
                if text.startswith("deploy@10.0.0.6"):
                    raise RuntimeError("the second host's log is unreadable")
    assert events == ["open deploy@10.0.0.5:22", "read deploy@10.0.0.5:22", "close deploy@10.0.0.5:22",
                      "open deploy@10.0.0.6:22", "read deploy@10.0.0.6:22", "close deploy@10.0.0.6:22", "cleanup"]
