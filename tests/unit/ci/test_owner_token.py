"""Owner tokens (ci/executor/process.py): what a test or benchmark run labels its target hosts with."""

import subprocess

from ci.executor import process


def test_an_owner_token_names_this_process_until_it_ends_and_never_a_reused_pid():
    assert process.owner_alive(process.owner_token())
    child = subprocess.Popen(["sleep", "30"])
    token = f"{child.pid}:{process.process_start_time(child.pid)}"
    assert process.owner_alive(token)
    child.kill()
    child.wait()
    assert not process.owner_alive(token)
    pid, _, start = process.owner_token().partition(":")
    assert not process.owner_alive(f"{pid}:{int(start) + 1}")  # the same pid, started at another time
    assert not process.owner_alive("") and not process.owner_alive("not-a-token")
