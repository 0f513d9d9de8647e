"""The fault matrix against a real target host, under constant load: a deploy (or rollback) killed, interrupted or
cut off just before each step (CI_DEPLOY_FAULT, ci/deploy/faults.py), then the checks the deploy promises:
the host serves the old or the new release with no failed request, the proxy routes exactly one release, the next
deploy succeeds. Every step × raise/term/cut is also played against fake hosts in
tests/unit/ci/test_deploy_sequence.py; here is what only a real host shows (a process that is really gone, a
proxy that really routes, a connection that is really cut). The table each test prints is the README's."""

import json
import subprocess

import pytest

from ci.deploy import proxy
from tests.deploy.conftest import Load, exported_ids

# Each step at which a killed deploy leaves the host in another state: a new release started beside the old one,
# about to be routed, routed but not smoke-tested, routed but not recorded. (Before `start` a killed deploy leaves
# only its lock, which the start step's kill covers too.) Every step × raise/term/cut runs on fake hosts.
DEPLOY_KILL_STEPS = ("start", "switch", "smoke", "record")
# A cut connection and a SIGTERM while the host is between two releases.
OTHER_FAULTS = (("cut", "smoke"), ("term", "switch"))
ROLLBACK_FAULTS = (("kill", "switch"), ("term", "switch"))


def routed_releases(environment) -> list[str]:
    """The releases the host's proxy sends new requests to, read from the proxy itself (through the host)."""
    names = environment.names
    target = environment.targets[0].name
    answer = subprocess.run(["docker", "exec", target, *proxy.show_servers_state_command(names.proxy)],
                            capture_output=True, text=True, timeout=60, check=True).stdout
    members = subprocess.run(["docker", "exec", target, "docker", "network", "inspect", "--format",
                              '{{range .Containers}}{{.Name}} {{.IPv4Address}}{{"\\n"}}{{end}}', names.network],
                             capture_output=True, text=True, timeout=60, check=True).stdout
    by_ip = {line.split()[1].split("/")[0]: line.split()[0] for line in members.splitlines() if line.strip()}
    states = proxy.parse_servers_state(answer)
    return [by_ip.get(states[slot]["addr"], states[slot]["addr"]) for slot in proxy.serving_slots(states)]


def serving_release(environment) -> str:
    return environment.ready()["release"]


def play(environment, command: str, fault: str, rows: list) -> dict:
    """One cell: the faulted command under load, then every check, then a clean deploy that must succeed and, after
    it, every prediction answered during the fault in the environment's log. Returns the faulted command's report (of
    a killed command: whatever report was there before)."""
    before = serving_release(environment)
    with Load(environment.urls[0]) as load:
        faulted = environment.run(command, env={"CI_DEPLOY_FAULT": fault})
    assert faulted.returncode != 0, f"{command} with {fault} did not fail:\n{faulted.stderr[-2000:]}"
    routed = routed_releases(environment)
    after = serving_release(environment)
    answered = load.answered
    assert len(routed) == 1, f"{fault}: the proxy routes {routed}"
    written = environment.copy / "reports" / f"{command}.json"
    report = json.loads(written.read_text()) if written.exists() else {}  # a killed command writes none
    assert load.failures == [], f"{fault}: {len(load.failures)} failed requests: {load.failures[:5]}"
    with Load(environment.urls[0]) as load:
        repaired = environment.deploy()
    assert repaired.returncode == 0, f"the deploy after {fault} failed:\n{repaired.stderr[-3000:]}"
    assert load.failures == [], f"the deploy after {fault}: {len(load.failures)} failed requests"
    assert routed_releases(environment) == [environment.names.container(serving_release(environment))]
    lost = sorted(set(answered) - set(exported_ids(environment)))
    rows.append((command, fault, faulted.returncode, load.sent, len(load.failures), len(lost), before[:15], after[:15],
                 len(routed)))
    assert lost == [], f"{fault}: {len(lost)} of {len(answered)} answered predictions are not in the log: {lost[:5]}"
    verified = environment.run("audit", "verify")
    assert verified.returncode == 0, f"the audit chain after {fault}:\n{verified.stderr[-2000:]}"
    return report


def print_table(rows: list) -> None:
    print("\n| command | fault | exit | requests | failed | lost predictions | before | after | routed |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")


@pytest.fixture
def served(deploy_environment):
    environment = deploy_environment(hosts=1)
    first = environment.deploy()
    assert first.returncode == 0, first.stderr[-3000:]
    return environment


def test_a_deploy_killed_before_any_step_leaves_one_release_serving_and_the_next_deploy_succeeds(served):
    rows = []
    for step in DEPLOY_KILL_STEPS:
        play(served, "deploy", f"{step}:kill", rows)
    print_table(rows)


@pytest.mark.parametrize("action,step", OTHER_FAULTS, ids=[f"{a}-{s}" for a, s in OTHER_FAULTS])
def test_a_deploy_cut_off_or_interrupted_mid_change_is_undone(served, action, step):
    rows = []
    report = play(served, "deploy", f"{step}:{action}", rows)
    assert report["hosts"][0]["result"] in ("rolled back", "rollback failed", "lock lost"), report["hosts"]
    print_table(rows)


def test_a_rollback_killed_or_interrupted_leaves_one_release_serving(served):
    rows = []
    second = served.deploy()
    assert second.returncode == 0, second.stderr[-3000:]
    for action, step in ROLLBACK_FAULTS:
        play(served, "rollback", f"{step}:{action}", rows)
    print_table(rows)
