"""Builds and prunes on one engine (ci/executor/docker_engine.py): an image's untagged parents are removed only
while no build of this machine runs, since a running build may be about to use one of them as its cached parent
("unknown parent image ID", seen when deploy scenarios built their runner images side by side)."""

import threading
from types import SimpleNamespace

from ci.executor import docker_engine


class Images:
    def __init__(self):
        self.removed = []

    def get(self, image_id):
        return SimpleNamespace(tags=[])

    def remove(self, reference, noprune):
        self.removed.append((reference, noprune))


def engine(tmp_path, monkeypatch):
    monkeypatch.setattr(docker_engine.tempfile, "gettempdir", lambda: str(tmp_path))
    return SimpleNamespace(api=SimpleNamespace(base_url=f"http+docker://test-{tmp_path.name}"), images=Images())


def test_a_removal_prunes_parents_only_when_no_build_runs(tmp_path, monkeypatch):
    client = engine(tmp_path, monkeypatch)
    monkeypatch.setattr(docker_engine, "PRUNE_WAIT_SECONDS", 0.3)
    building, done = threading.Event(), threading.Event()

    def build():
        with docker_engine._building(client):
            building.set()
            done.wait(10)

    builder = threading.Thread(target=build)
    builder.start()
    building.wait(10)
    assert docker_engine.remove_if_untagged(client, "sha256:old")  # during the build: the image alone
    done.set()
    builder.join(10)
    assert docker_engine.remove_image_tags(client, "sha256:older", ("x:1",))  # after it: with its parents
    assert client.images.removed == [("sha256:old", True), ("x:1", False)]


def test_builds_run_side_by_side(tmp_path, monkeypatch):
    client = engine(tmp_path, monkeypatch)
    with docker_engine._building(client) as first, docker_engine._building(client) as second:
        assert first and second


def test_two_builds_of_one_reference_take_turns_and_other_references_do_not_wait(tmp_path, monkeypatch):
    client = engine(tmp_path, monkeypatch)
    events, first_in = [], threading.Event()

    def build(name: str, reference: str, seconds: float) -> None:
        with docker_engine.one_build_of(client, reference):
            events.append(f"{name} in")
            first_in.set()
            threading.Event().wait(seconds)
            events.append(f"{name} out")

    first = threading.Thread(target=build, args=("first", "runner:nocommit", 0.5))
    first.start()
    first_in.wait(10)
    second = threading.Thread(target=build, args=("second", "runner:nocommit", 0))
    other = threading.Thread(target=build, args=("other", "postgres:nocommit", 0))
    second.start()
    other.start()
    for thread in (first, second, other):
        thread.join(10)
    assert events.index("second in") > events.index("first out")
    assert events.index("other out") < events.index("first out")


def test_the_last_image_of_each_stage_but_the_target_is_found_in_the_builders_output():
    lines = ["Step 1/9 : ARG BASE_IMAGE=debian", "Step 2/9 : FROM ${BASE_IMAGE} AS build-base", " ---> 111111111111",
             "Step 3/9 : COPY a /a", " ---> Using cache", " ---> 222222222222",
             "Step 4/9 : FROM build-base AS trainer", " ---> 222222222222", "Step 5/9 : RUN train",
             " ---> Running in 0123456789ab", " ---> 333333333333",
             "Step 6/9 : FROM scratch AS runtime", "Step 7/9 : COPY --from=trainer /m /m", " ---> 444444444444"]
    assert docker_engine.stage_tips_of(lines) == {"build-base": "222222222222", "trainer": "333333333333"}
    assert docker_engine.stage_tips_of(["Step 1/2 : FROM debian", " ---> 111111111111"]) == {}


# A test run leaves no untagged image it made (issue 14, defect 11) --------------------------------------------

class DanglingImages:
    """Untagged, childless images with their creation times; `in_use` ones refuse removal as the engine does."""

    def __init__(self, created: dict[str, str], in_use=()):
        self.created, self.in_use, self.removed = dict(created), set(in_use), []

    def list(self, filters):
        assert filters == {"dangling": True}
        return [SimpleNamespace(id=image_id, attrs={"Created": created}) for image_id, created in self.created.items()]

    def remove(self, image_id, noprune):
        if image_id in self.in_use:
            raise docker_engine.APIError("conflict: image is being used by stopped container 0123")
        self.removed.append((image_id, noprune))
        del self.created[image_id]


def test_the_sweep_removes_with_their_parents_only_the_untagged_images_the_run_made(tmp_path, monkeypatch):
    client = engine(tmp_path, monkeypatch)
    client.images = DanglingImages({
        "sha256:before": "2026-12-04T13:59:59.9Z",   # an older leftover: not this run's
        "sha256:runner": "2026-12-04T14:05:01.123456789Z",  # left by a build that ran beside another
        "sha256:used": "2026-12-04T14:06:00Z",              # made in the run, but a container still uses it
    }, in_use={"sha256:used"})
    started = docker_engine.parse_engine_time("2026-12-04T14:00:00Z")
    assert docker_engine.remove_untagged_made_since(client, started) == (1, ["sha256:used"])
    assert client.images.removed == [("sha256:runner", False)]


def test_the_sweep_waits_for_running_builds_and_leaves_everything_when_they_do_not_end(tmp_path, monkeypatch):
    client = engine(tmp_path, monkeypatch)
    client.images = DanglingImages({"sha256:runner": "2026-12-04T14:05:01Z"})
    monkeypatch.setattr(docker_engine, "PRUNE_WAIT_SECONDS", 0.2)
    with docker_engine._building(client):
        assert docker_engine.remove_untagged_made_since(client, 0.0) == (0, ["sha256:runner"])
    assert client.images.removed == []
