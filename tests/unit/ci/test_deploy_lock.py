"""The deploy lock's remote commands, run for real: they are `sh -c` scripts over absolute paths, so each test runs
them locally with a temporary directory as the environment's state dir (no Docker, no SSH; sh and flock as on a
target host)."""

import os
import random
import shutil
import subprocess

import pytest

from ci.deploy import lock
from ci.deploy.names import EnvironmentNames, RemotePaths

STAGING = EnvironmentNames("ml-model-service", "staging", "/var/lib/mlci").paths


@pytest.fixture
def paths(tmp_path) -> RemotePaths:
    return RemotePaths(str(tmp_path / "state" / "ml-model-service" / "staging"))


def run(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=30)


def acquire(paths: RemotePaths, deploy_id: str) -> int:
    result = run(lock.lock_acquire_command(paths, deploy_id, f"owner of {deploy_id}"))
    assert result.returncode == 0, result.stderr
    return int(result.stdout.strip().removeprefix("token="))


def status(paths: RemotePaths) -> lock.LockStatus:
    result = run(lock.lock_status_command(paths))
    assert result.returncode == 0, result.stderr
    return lock.parse_lock_status(result.stdout)


def holder_file(paths: RemotePaths) -> str:
    with open(f"{paths.lock}/holder") as file:
        return file.read().strip()


def died_long_ago(paths: RemotePaths) -> None:
    """The holder's last heartbeat was at the epoch's first second: stale by any threshold."""
    with open(f"{paths.lock}/heartbeat", "w") as file:
        file.write("1\n")


def test_the_commands_are_sh_scripts_and_all_but_the_status_take_the_guard():
    acquire_text = lock.lock_acquire_command(STAGING, "deploy-1", "alice")[2]
    assert "mkdir /var/lib/mlci/ml-model-service/staging/lock ||" in acquire_text
    commands = {"acquire": lock.lock_acquire_command(STAGING, "d", "o"),
                "takeover": lock.lock_takeover_command(STAGING, lock.LockStatus(), "d", "o"),
                "heartbeat": lock.lock_heartbeat_command(STAGING, "1 d"),
                "release": lock.lock_release_command(STAGING, "1 d")}
    for verb, argv in commands.items():
        assert argv[:2] == ["sh", "-c"] and argv[3] == f"mlci-lock-{verb}"
        assert "exec 9>>/var/lib/mlci/ml-model-service/staging/lock.guard && flock -w 10 9" in argv[2], verb
    assert "flock" not in lock.lock_status_command(STAGING)[2]


def dead_holders_lock(paths: RemotePaths) -> None:
    """A lock as a deploy that died long ago left it."""
    os.makedirs(paths.lock)
    for name, text in (("holder", "7 dead"), ("owner.json", '{"deploy_id": "dead", "owner": "a dead deploy"}')):
        with open(f"{paths.lock}/{name}", "w") as file:
            file.write(text + "\n")
    died_long_ago(paths)


def test_of_two_deploys_racing_to_take_over_one_stale_lock_exactly_one_wins(paths):
    for round_ in range(10):
        dead_holders_lock(paths)
        seen = status(paths)  # both judged the same stale lock
        assert lock.lock_is_stale(seen, stale_seconds=60) and seen.holder == "7 dead"
        racers = {name: subprocess.Popen(lock.lock_takeover_command(paths, seen, name, name), stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True) for name in ("b", "c")}
        codes = {name: racer.wait(timeout=30) for name, racer in racers.items()}
        for racer in racers.values():
            racer.communicate()
        assert sorted(codes.values()) == [0, lock.NOT_OURS], (round_, codes)
        winner = next(name for name, code in codes.items() if code == 0)
        assert holder_file(paths) == f"{round_ + 1} {winner}"
        shutil.rmtree(paths.lock)


def test_a_takeover_against_a_lock_that_changed_hands_refuses_and_leaves_the_live_lock_alone(paths):
    acquire(paths, "deploy-a")
    died_long_ago(paths)
    seen_by_c = status(paths)
    # B judged A's lock stale too and took it over first; C's takeover comes afterwards, on what C saw.
    assert run(lock.lock_takeover_command(paths, seen_by_c, "deploy-b", "bob")).returncode == 0
    assert run(lock.lock_takeover_command(paths, seen_by_c, "deploy-c", "carol")).returncode == lock.NOT_OURS
    assert run(lock.lock_acquire_command(paths, "deploy-c", "carol")).returncode == lock.NOT_OURS
    assert holder_file(paths) == "2 deploy-b"
    assert run(lock.lock_heartbeat_command(paths, "2 deploy-b")).returncode == 0
    assert status(paths).owner == {"deploy_id": "deploy-b", "owner": "bob"}


def test_a_takeover_refuses_a_holder_that_was_only_slow_and_has_beaten_since(paths):
    token = acquire(paths, "deploy-a")
    died_long_ago(paths)
    seen = status(paths)
    assert run(lock.lock_heartbeat_command(paths, f"{token} deploy-a")).returncode == 0  # A was alive after all
    assert run(lock.lock_takeover_command(paths, seen, "deploy-b", "bob")).returncode == lock.NOT_OURS
    assert holder_file(paths) == f"{token} deploy-a"


def test_a_lock_without_heartbeat_or_owner_is_judged_by_its_age_and_can_be_taken_over(paths):
    os.makedirs(paths.lock)  # created, never completed (a full disk, a cut connection after mkdir)
    fresh = status(paths)
    assert fresh.heartbeat is None and fresh.owner == {} and fresh.created is not None
    assert not lock.lock_is_stale(fresh, stale_seconds=60)
    os.utime(paths.lock, (fresh.now - 61, fresh.now - 61))
    old = status(paths)
    assert lock.lock_is_stale(old, stale_seconds=60) and not lock.lock_is_stale(old, stale_seconds=120)
    assert run(lock.lock_takeover_command(paths, old, "deploy-b", "bob")).returncode == 0
    assert holder_file(paths) == "1 deploy-b"


def test_a_torn_heartbeat_read_yields_a_status_judged_by_age(paths):
    acquire(paths, "deploy-a")
    with open(f"{paths.lock}/heartbeat", "w"):
        pass  # read between an (older version's) truncation and its rewrite
    seen = status(paths)
    assert seen.heartbeat is None and seen.owner["owner"] == "owner of deploy-a" and seen.holder == "1 deploy-a"
    assert not lock.lock_is_stale(seen, stale_seconds=60)
    assert lock.lock_is_stale(lock.LockStatus(now=seen.now + 61, created=seen.created), stale_seconds=60)


GARBAGE = ["", "\n\n", "1000\n900\n{\"deploy_id\": \"d\"}", "1796311051\n{\"deploy_id\": \"a\"}",
           "now=\ncreated=x\nheartbeat=-5\nholder=\nowner={", "now=²\nowner=[1, 2]", "owner=" + "[" * 5000,
           "now=1\nnow=2\nowner=\"text\"", "=\n==\nowner={\"owner\": {\"nested\": 1}}", "\x00\xff\ufffd",
           "now=" + "9" * 40]


@pytest.mark.parametrize("text", GARBAGE)
def test_parsing_a_status_never_raises_and_unknown_is_not_stale(text):
    seen = lock.parse_lock_status(text)
    assert not lock.lock_is_stale(seen, stale_seconds=0)


def test_parsing_random_bytes_never_raises():
    rng = random.Random(13)
    alphabet = "now=created=heartbeat=holder=owner={}[]\":, 0123456789\n\x00é"
    for _ in range(500):
        lock.parse_lock_status("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80))))


def test_each_acquire_hands_out_a_greater_fencing_token(paths):
    first = acquire(paths, "deploy-a")
    assert run(lock.lock_release_command(paths, f"{first} deploy-a")).returncode == 0
    second = acquire(paths, "deploy-a")
    assert (first, second) == (1, 2)
    assert run(lock.lock_release_command(paths, f"{second} deploy-a")).returncode == 0
    with open(paths.lock_counter, "w") as file:
        file.write("garbage")  # an unreadable counter restarts at the host's clock, above every token so far
    assert acquire(paths, "deploy-a") > status(paths).now - 60


def test_only_the_holder_beats_and_releases(paths):
    token = acquire(paths, "deploy-a")
    assert run(lock.lock_heartbeat_command(paths, f"{token} deploy-b")).returncode == lock.NOT_OURS
    assert run(lock.lock_heartbeat_command(paths, f"{token + 1} deploy-a")).returncode == lock.NOT_OURS
    assert run(lock.lock_release_command(paths, f"{token + 1} deploy-a")).returncode == lock.NOT_OURS
    assert holder_file(paths) == f"{token} deploy-a"
    assert run(lock.lock_release_command(paths, f"{token} deploy-a")).returncode == 0
    assert not os.path.exists(paths.lock)
    assert status(paths).created is None


def test_an_acquire_that_cannot_complete_leaves_no_half_made_lock(paths):
    os.makedirs(f"{paths.lock_counter}.tmp")  # the counter cannot be written (as on a full disk)
    result = run(lock.lock_acquire_command(paths, "deploy-a", "alice"))
    assert result.returncode == 2 and not os.path.exists(paths.lock)
