"""The Ray bridge's Relay and command loop with a fake `ray`: a worker's events
passed to the server (a completed run's video brought home first), a run its
actor refuses failed, and commands for a worker with no actor dropped.
test_ray.py starts real actors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import wait_for
import job_values
from fake_ray import FakeActor, FakeRay, Outbox

from fastvideo_ui.workers.ray_bridge import handle
from fastvideo_ui.workers.ray_files import FileShipper
from fastvideo_ui.workers.ray_hosted import Hosted, Hosts
from fastvideo_ui.workers.ray_relay import Relay


def relay_with_worker(tmp_path: Path) -> tuple[Relay, FakeRay, Outbox, Hosted]:
    ray, link = FakeRay(), Outbox()
    hosts = Hosts(link)
    relay = Relay(link, ray, hosts, FileShipper(ray))
    hosted = Hosted(1, "aaaaaaaa-node-a")
    hosted.actor = FakeActor(tmp_path / "scratch")
    hosted.scratch = str(tmp_path / "scratch")
    (tmp_path / "scratch").mkdir()
    (tmp_path / "home").mkdir()
    hosts.add(hosted)
    return relay, ray, link, hosted


def run_message(tmp_path: Path) -> dict[str, Any]:
    return job_values.run_message(tmp_path / "home")


def test_a_workers_events_reach_the_server_and_its_exit_ends_the_actor(tmp_path: Path) -> None:
    relay, ray, link, hosted = relay_with_worker(tmp_path)
    handle(relay, {"op": "send", "worker": 1, "message": run_message(tmp_path)})
    localised = wait_for(lambda: hosted.actor.received, timeout=5, what="the run at the actor")[0]
    Path(localised["output_path"]).write_bytes(b"video")
    completed = {"type": "completed", "video_path": localised["output_path"], "poster_path": None}
    hosted.actor.polls = [
        [{"kind": "log", "text": "loading\n"}, {"kind": "message", "message": {"type": "progress", "step": 1}}],
        ray.exceptions.GetTimeoutError(),  # a long poll with nothing to say
        [{"kind": "message", "message": completed}, {"kind": "exit", "returncode": 0}],
    ]

    relay._pump(hosted)

    home = str(tmp_path / "home" / "j1.mp4")
    assert link.sent == [
        {"op": "log", "worker": 1, "text": "loading\n"},
        {"op": "message", "worker": 1, "message": {"type": "progress", "step": 1}},
        {"op": "message", "worker": 1, "message": {**completed, "video_path": home}},
        {"op": "exit", "worker": 1, "returncode": 0, "reason": None},  # once: the actor's kill after it is ours
    ]
    assert Path(home).read_bytes() == b"video"
    assert hosted.actor.closed and ray.killed == [hosted.actor]


def test_an_actor_that_dies_ends_its_worker_with_the_reason(tmp_path: Path) -> None:
    relay, _ray, link, hosted = relay_with_worker(tmp_path)
    hosted.actor.polls = [RuntimeError("The actor died unexpectedly\nmore detail")]

    relay._pump(hosted)

    assert link.sent == [{"op": "exit", "worker": 1, "returncode": -9,
                          "reason": "its Ray actor died: RuntimeError: The actor died unexpectedly"}]


def test_a_run_its_actor_refuses_fails(tmp_path: Path) -> None:
    relay, _ray, link, hosted = relay_with_worker(tmp_path)
    hosted.actor.refusing = ConnectionError("the node is gone")

    handle(relay, {"op": "send", "worker": 1, "message": run_message(tmp_path)})

    wait_for(lambda: link.sent, timeout=5, what="the run's failure")
    assert link.sent == [{"op": "message", "worker": 1, "message": {
        "type": "failed", "error": "could not hand the job to its Ray worker: ConnectionError: the node is gone"}}]


def test_commands_for_a_worker_without_an_actor_are_dropped(tmp_path: Path) -> None:
    relay, _ray, link, hosted = relay_with_worker(tmp_path)
    hosted.actor = None  # still starting
    handle(relay, {"op": "send", "worker": 1, "message": {"type": "stop"}})
    handle(relay, {"op": "kill", "worker": 1})
    handle(relay, {"op": "kill", "worker": 2})  # never started
    assert link.sent == [] and not hosted.ended.is_set()


def test_kill_closes_the_worker_then_kills_its_actor(tmp_path: Path) -> None:
    relay, ray, link, hosted = relay_with_worker(tmp_path)
    handle(relay, {"op": "kill", "worker": 1})
    wait_for(lambda: link.sent, timeout=5, what="the worker's exit")
    assert link.sent == [{"op": "exit", "worker": 1, "returncode": -9, "reason": None}]
    assert hosted.killing and hosted.actor.closed and ray.killed == [hosted.actor]
