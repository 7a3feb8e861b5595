"""The Ray bridge's NodeWatcher with a fake `ray`: the node table published when
it changes, a node whose actor stops answering declared lost (with every
worker on it), and a head that stops answering ends the bridge. One pass of
each loop at a time; the clock is moved by back-dating what was last heard.
test_ray.py kills real nodes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import wait_for
from fake_ray import FakeActor, FakeRay, Outbox, node

from fastvideo_ui.workers.ray_hosted import Hosted, Hosts
from fastvideo_ui.workers.ray_nodes import HEAD_LOST_AFTER_S, LOST_AFTER_S, LOST_NODE_HOLD_S, NodeWatcher

A, B = "aaaaaaaa-node-a", "bbbbbbbb-node-b"


def watcher(*nodes: dict) -> tuple[NodeWatcher, FakeRay, Outbox, Hosts]:
    ray, link = FakeRay(list(nodes)), Outbox()
    hosts = Hosts(link)
    return NodeWatcher(link, ray, hosts), ray, link, hosts


def start_worker(hosts: Hosts, worker_id: int, node_id: str, tmp_path: Path) -> Hosted:
    hosted = Hosted(worker_id, node_id)
    hosted.actor = FakeActor(tmp_path)
    hosted.scratch = str(tmp_path)
    hosts.add(hosted)
    return hosted


def published(link: Outbox) -> list[list[str]]:
    return [[n["id"] for n in message["nodes"]] for message in link.ops("nodes")]


def test_the_alive_nodes_are_published_when_they_change() -> None:
    nodes, ray, link, _hosts = watcher(node(B, "beta", gpus=4), node(A, "alpha"),
                                       node("cccc-dead", "gamma", alive=False))
    nodes.read_nodes()
    nodes.read_nodes()  # unchanged: not sent again
    assert link.sent == [{"op": "nodes", "nodes": [
        {"id": A, "key": "aaaaaaaa", "name": "alpha", "gpus": 2},
        {"id": B, "key": "bbbbbbbb", "name": "beta", "gpus": 4}]}]

    ray.table = [node(A, "alpha")]
    nodes.read_nodes()
    assert published(link) == [[A, B], [A]]


def test_a_worker_whose_actor_stops_answering_is_lost_after_the_timeout_with_its_whole_node(tmp_path: Path) -> None:
    nodes, ray, link, hosts = watcher(node(A, "alpha"), node(B, "beta"))
    nodes.read_nodes()
    silent, neighbour, elsewhere = (start_worker(hosts, 1, A, tmp_path), start_worker(hosts, 2, A, tmp_path),
                                    start_worker(hosts, 3, B, tmp_path))
    silent.actor.answering = False

    nodes.ping_round()  # just stopped answering: not lost yet
    assert link.ops("exit") == [] and not silent.ended.is_set()

    silent.last_answer = time.monotonic() - LOST_AFTER_S - 1
    nodes.ping_round()

    reason = f"node aaaaaaaa lost (no answer for {LOST_AFTER_S:g} s)"
    # The other worker on that node ends on a thread of its own; its actor's kill is the last of it.
    wait_for(lambda: len(ray.killed) == 2, timeout=5, what="the other worker on the lost node to end")
    assert link.ops("exit") == [{"op": "exit", "worker": 1, "returncode": -9, "reason": reason},
                                {"op": "exit", "worker": 2, "returncode": -9, "reason": reason}]
    # The node left the inventory before the exit: the requeued job must not go back there.
    assert published(link) == [[A, B], [B]]
    assert link.sent.index(link.ops("nodes")[-1]) < link.sent.index(link.ops("exit")[0])
    assert ray.killed == [silent.actor, neighbour.actor]
    assert not elsewhere.ended.is_set() and hosts.all() == [elsewhere]


def test_a_lost_node_stays_out_while_ray_still_lists_it_until_the_hold_ends(tmp_path: Path) -> None:
    nodes, _ray, link, hosts = watcher(node(A, "alpha"), node(B, "beta"))
    nodes.read_nodes()
    silent = start_worker(hosts, 1, A, tmp_path)
    silent.actor.answering = False
    silent.last_answer = time.monotonic() - LOST_AFTER_S - 1
    nodes.ping_round()

    nodes.read_nodes()  # Ray still says it is alive
    assert published(link)[-1] == [B]

    nodes.lost_nodes[A] -= LOST_NODE_HOLD_S
    nodes.read_nodes()
    assert published(link)[-1] == [A, B]


def test_a_worker_on_a_node_that_left_the_cluster_ends(tmp_path: Path) -> None:
    nodes, ray, link, hosts = watcher(node(A, "alpha"), node(B, "beta"))
    nodes.read_nodes()
    leaving, staying = start_worker(hosts, 1, A, tmp_path), start_worker(hosts, 2, B, tmp_path)

    ray.table = [node(A, "alpha", alive=False), node(B, "beta")]
    nodes.read_nodes()

    assert link.ops("exit") == [{"op": "exit", "worker": 1, "returncode": -9,
                                 "reason": "node aaaaaaaa lost (its node left the cluster)"}]
    assert ray.killed == [leaving.actor] and not staying.ended.is_set()


def test_workers_still_starting_or_being_killed_are_not_pinged(tmp_path: Path) -> None:
    nodes, _ray, link, hosts = watcher(node(A, "alpha"))
    nodes.read_nodes()
    starting = start_worker(hosts, 1, A, tmp_path)
    starting.scratch = ""  # its actor has not answered `info` yet
    killing = start_worker(hosts, 2, A, tmp_path)
    killing.killing = True
    for hosted in (starting, killing):
        hosted.actor.answering = False
        hosted.last_answer = time.monotonic() - LOST_AFTER_S - 1

    nodes.ping_round()

    assert link.ops("exit") == []


def test_a_head_that_stops_answering_ends_the_bridge() -> None:
    nodes, _ray, _link, _hosts = watcher(node(A, "alpha"))
    nodes.ping_round()
    nodes.head_answered = time.monotonic() - HEAD_LOST_AFTER_S - 1
    with pytest.raises(ConnectionError, match=f"the Ray head has not answered for {HEAD_LOST_AFTER_S:g} s"):
        nodes.ping_round()
    nodes.read_nodes()  # it answered
    nodes.ping_round()


def test_a_workers_end_is_sent_once(tmp_path: Path) -> None:
    _nodes, _ray, link, hosts = watcher()
    hosted = start_worker(hosts, 1, A, tmp_path)
    hosts.end(hosted, 0, None)
    hosts.end(hosted, -9, "node aaaaaaaa lost (no answer for 6 s)")
    assert link.ops("exit") == [{"op": "exit", "worker": 1, "returncode": 0, "reason": None}]
    assert hosts.get(1) is None
