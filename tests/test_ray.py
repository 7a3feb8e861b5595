"""--ray: jobs on a real local Ray cluster (ray.cluster_utils.Cluster, two
nodes of two declared GPUs each), with the fake FastVideo in every worker.

The cluster runs in its own process (tests/ray_cluster_process.py) so a test can kill a
node as a machine dies, and its environment carries the fake to the nodes. The
tests share one cluster and run in file order: the last ones add and kill nodes.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from playwright.sync_api import expect

from conftest import SMALL_VIDEO, WAN, Server, free_port, process_gone, wait_for
from ray_cluster import RayCluster

pytest.importorskip("ray")

pytestmark = pytest.mark.slow  # a Ray cluster of processes

STEP_S = 0.2


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayCluster]:
    running = RayCluster(tmp_path_factory.mktemp("ray"), [2, 2], STEP_S, client_port=free_port())
    yield running
    running.quit()


@pytest.fixture
def ray_server(start_server: Callable[..., Server], cluster: RayCluster) -> Server:
    server = start_server("--ray", cluster.address, env=cluster.env)
    wait_for(lambda: len(gpus(server)) == 2 * len(cluster.nodes), timeout=60, what="the cluster's GPUs in /api/gpus")
    return server


def gpus(server: Server) -> list[dict[str, Any]]:
    return server.client.get("/api/gpus").json()["gpus"]


def create(server: Server, **body: Any) -> dict[str, Any]:
    return server.create(model_id=WAN, start=True, **(SMALL_VIDEO | body))


def worker_tree(server: Server, cluster: RayCluster, job_id: str) -> list[int]:
    """The job's worker process on its node and the GPU processes the fake FastVideo
    started: the worker named by the server's health, not the cluster's last load
    (the module's cluster also runs other tests' workers)."""
    pid = wait_for(lambda: next((w["pid"] for w in server.health()["workers"]
                                 if w["job_id"] == job_id and w["pid"]), None), what="the job's worker")
    load = wait_for(lambda: next((e for e in cluster.events("load") if e["pid"] == pid), None),
                    what="the worker's model load")
    return [pid, *load["worker_pids"]]


def node_of(job: dict[str, Any]) -> str:
    nodes = {device.split(":")[0] for device in job["devices"]}
    assert len(nodes) == 1, f"job {job['id']} spans nodes: {job['devices']}"
    return nodes.pop()


def test_a_two_gpu_job_lands_on_one_node_and_its_video_comes_home(ray_server: Server, cluster: RayCluster) -> None:
    rows = gpus(ray_server)
    assert {row["node"] for row in rows} == set(cluster.nodes)
    assert all(row["job_id"] is None for row in rows)
    wan = next(m for m in ray_server.client.get("/api/models").json() if m["id"] == WAN)
    assert wan["available"] and wan["limits"]["num_gpus"] == {"min": 1, "max": 2, "scope": "ray node"}
    metrics = ray_server.client.get("/metrics").text
    assert "fastvideo_ui_ray_up 1.0" in metrics
    assert all(f'fastvideo_ui_gpus{{node="{node}"}} 2.0' in metrics for node in cluster.nodes)
    refused = ray_server.client.post("/api/jobs", json={"model_id": WAN, "prompt": "x", "num_gpus": 3})
    assert refused.status_code == 422 and "on its largest Ray node" in refused.text

    job = create(ray_server, num_gpus=2, num_inference_steps=10, prompt="a pair of GPUs")
    running = ray_server.wait_status(job["id"], "running")
    wait_for(lambda: len(ray_server.job(job["id"])["devices"]) == 2, what="the job's devices")
    running = ray_server.job(job["id"])
    node = node_of(running)
    held = wait_for(lambda: [row for row in gpus(ray_server) if row["job_id"] == job["id"]] or None,
                    what="/api/gpus to show the job on its GPUs")
    assert {row["node"] for row in held} == {node} and len(held) == 2

    done = ray_server.wait_status(job["id"], "completed", "failed")
    assert done["status"] == "completed", ray_server.log_text(job["id"])
    video = Path(done["output_path"])
    assert video.parent == ray_server.data_dir / "outputs" and video.stat().st_size > 0
    assert done["poster_url"] and ray_server.client.get(done["poster_url"]).status_code == 200
    assert ray_server.client.get(f"/api/jobs/{job['id']}/video").status_code == 200
    # The worker wrote into its actor's scratch directory, never the server's disk,
    # and saw only the two GPUs Ray gave its actor.
    generated = [e for e in cluster.events("generate") if e["prompt"] == "a pair of GPUs"]
    assert generated and not generated[0]["kwargs"]["output_path"].startswith(str(ray_server.data_dir))
    loads = [e for e in cluster.events("load") if e["kwargs"]["num_gpus"] == 2]
    assert loads and sorted(loads[-1]["cuda_visible_devices"].split(",")) == ["0", "1"]
    assert "on Ray node" in ray_server.log_text(job["id"])
    assert all(row["job_id"] is None for row in gpus(ray_server))

    # The same model again: the actor's worker still holds it, so it is not loaded twice.
    again = create(ray_server, num_gpus=2, num_inference_steps=10, prompt="a pair of GPUs, again")
    assert ray_server.wait_status(again["id"], "completed", "failed")["status"] == "completed"
    assert len([e for e in cluster.events("load") if e["kwargs"]["num_gpus"] == 2]) == len(loads)
    assert "reusing the loaded model" in ray_server.log_text(again["id"])


def test_four_one_gpu_jobs_spread_over_both_nodes_and_keep_their_own_logs(ray_server: Server) -> None:
    # Long jobs, so that all four are surely running at once; stopped at the end.
    jobs = [create(ray_server, num_inference_steps=200, prompt=f"the fox numbered {n}") for n in range(4)]

    def all_stepping() -> list[dict[str, Any]] | None:
        current = [ray_server.job(job["id"]) for job in jobs]
        return current if all(job["status"] == "running" and job["step"] for job in current) else None

    running = wait_for(all_stepping, timeout=90, what="four jobs running at once")
    devices = [device for job in running for device in job["devices"]]
    assert len(set(devices)) == 4, devices  # no GPU given twice
    nodes = [node_of(job) for job in running]
    assert sorted(nodes.count(node) for node in set(nodes)) == [2, 2]

    for job in jobs:
        assert ray_server.client.post(f"/api/jobs/{job['id']}/stop").status_code == 200
    for n, job in enumerate(jobs):
        ray_server.wait_status(job["id"], "stopped", timeout=30)
        text = ray_server.log_text(job["id"])
        assert f"the fox numbered {n}" in text  # FastVideo echoes the prompt into the job's log
        assert not any(f"the fox numbered {other}" in text for other in range(4) if other != n)


def test_stop_ends_the_worker_and_its_children_on_the_node(ray_server: Server, cluster: RayCluster) -> None:
    job = create(ray_server, num_inference_steps=200, prompt="stop me on the cluster")
    wait_for(lambda: (ray_server.job(job["id"])["step"] or 0) >= 2, what="the job to step")
    tree = worker_tree(ray_server, cluster, job["id"])

    assert ray_server.client.post(f"/api/jobs/{job['id']}/stop").status_code == 200
    stopped = ray_server.wait_status(job["id"], "stopped", timeout=20)
    assert stopped["status"] == "stopped"
    wait_for(lambda: all(process_gone(pid) for pid in tree),
             timeout=15, what="the worker's process tree to be gone")
    wait_for(lambda: all(row["job_id"] is None for row in gpus(ray_server)), what="its GPUs freed")


def test_a_frozen_worker_is_killed_with_its_tree_after_the_grace_period(
        start_server: Callable[..., Server], cluster: RayCluster) -> None:
    server = start_server("--ray", cluster.address, "--stop-grace", "1", env=cluster.env)
    wait_for(lambda: len(gpus(server)) == 2 * len(cluster.nodes), timeout=60, what="the cluster's GPUs")
    job = create(server, num_inference_steps=200, prompt="frozen on its node")
    wait_for(lambda: (server.job(job["id"])["step"] or 0) >= 1, what="the job to step")
    tree = worker_tree(server, cluster, job["id"])
    # Frozen, the worker cannot end its own process group: the actor must.
    os.kill(tree[0], signal.SIGSTOP)
    # Stopped for certain before the stop is asked for (twice on CI the job ended unforced: the worker had
    # ended its own tree, as an unfrozen one does).
    wait_for(lambda: psutil.Process(tree[0]).status() == psutil.STATUS_STOPPED, timeout=10,
             what="the worker to be frozen")
    assert server.client.post(f"/api/jobs/{job['id']}/stop").status_code == 200
    stopped = server.wait_status(job["id"], "stopped", timeout=60)
    log = server.log_text(stopped["id"])
    assert "forced" in log, log
    wait_for(lambda: all(process_gone(pid) for pid in tree), timeout=30, what="the frozen worker's tree to end")
    wait_for(lambda: all(row["job_id"] is None for row in gpus(server)), what="its GPUs freed")


def test_a_server_killed_outright_leaves_no_worker_running_on_the_nodes(
        ray_server: Server, cluster: RayCluster) -> None:
    job = create(ray_server, num_inference_steps=200, prompt="orphaned by a crash")
    wait_for(lambda: (ray_server.job(job["id"])["step"] or 0) >= 1, what="the job to step")
    tree = worker_tree(ray_server, cluster, job["id"])
    ray_server.kill9()
    # The bridge sees its server gone and exits; Ray ends the actors it owned,
    # and each worker, its socket closed, kills its own process group.
    wait_for(lambda: all(process_gone(pid) for pid in tree), timeout=30, what="the node's worker processes to end")


def test_with_a_shared_directory_videos_come_home_through_it(
        start_server: Callable[..., Server], cluster: RayCluster, tmp_path: Path) -> None:
    shared = tmp_path / "shared"  # every node of this cluster sees this machine's disk
    shared.mkdir()
    server = start_server("--ray", cluster.address, "--ray-shared-dir", str(shared), env=cluster.env)
    job = create(server, prompt="through the shared directory")
    done = server.wait_status(job["id"], "completed", "failed", timeout=60)
    assert done["status"] == "completed", server.log_text(job["id"])
    assert Path(done["output_path"]).parent == server.data_dir / "outputs"
    assert Path(done["output_path"]).stat().st_size > 0
    written = [e for e in cluster.events("generate") if e["prompt"] == "through the shared directory"]
    assert Path(written[0]["kwargs"]["output_path"]).parent == shared
    assert list(shared.iterdir()) == []  # moved home, not copied


def test_a_ray_client_address_works_too(start_server: Callable[..., Server], cluster: RayCluster) -> None:
    server = start_server("--ray", f"ray://127.0.0.1:{cluster.client_port}", env=cluster.env)
    # Ray Client starts a server process and a driver for each client: slow on a loaded machine.
    try:
        wait_for(lambda: len(gpus(server)) == 2 * len(cluster.nodes), timeout=120,
                 what="the cluster's GPUs, through Ray Client")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; health says {server.health()['ray']}") from None
    job = create(server, prompt="through Ray Client")
    done = server.wait_status(job["id"], "completed", "failed", timeout=60)
    assert done["status"] == "completed", server.log_text(job["id"])
    assert "through Ray Client" in server.log_text(job["id"])


def test_a_node_that_joins_adds_capacity_and_a_lost_node_requeues_its_job_once(
        ray_server: Server, cluster: RayCluster, open_page: Callable[..., Any]) -> None:
    page = open_page(ray_server)
    # They hold their nodes until stopped (the fake's [hang]): 200 steps of 0.2 s ran out on a loaded CI
    # machine before the node below was lost, and the requeued job then ran at once on a freed node.
    long = [create(ray_server, num_gpus=2, num_inference_steps=200, prompt=f"holds a node {n} [hang]")
            for n in range(2)]
    for job in long:
        ray_server.wait_status(job["id"], "running")
    # The page shows node -> GPU -> the job holding it.
    panel = page.locator("cluster-panel")
    expect(panel.locator("summary")).to_have_text("Ray cluster: 3 nodes, 4 GPUs, 4 busy")  # the head has none
    panel.locator("summary").click()
    for job in long:
        held = panel.locator(f"li[data-job='{job['id']}']")
        expect(held).to_have_count(2)
        expect(held.first).to_contain_text(job["prompt"])
        node = node_of(ray_server.job(job["id"]))
        expect(panel.locator(f"li[data-node='{node}'] li[data-job='{job['id']}']")).to_have_count(2)
    waiting = create(ray_server, num_gpus=2, num_inference_steps=200, prompt="needs a third node")
    assert ray_server.job(waiting["id"])["status"] == "queued"

    new_node = cluster.add(2)  # no restart: the server sees it join
    wait_for(lambda: len(gpus(ray_server)) == 6, what="the new node's GPUs")
    expect(panel.locator(f"li[data-node='{new_node}']")).to_be_visible()
    wait_for(lambda: ray_server.job(waiting["id"])["status"] == "running"
             and ray_server.job(waiting["id"])["step"], timeout=60, what="the waiting job to run on the new node")
    assert node_of(ray_server.job(waiting["id"])) == new_node

    cluster.kill(new_node)
    # Back in the queue (the other nodes are busy); how fast is bench/ray.py's figure.
    requeued = ray_server.wait_status(waiting["id"], "queued", timeout=60)
    assert requeued["attempts"] == 1
    assert f"node {new_node} lost" in ray_server.log_text(waiting["id"])
    assert "queued again, once" in ray_server.log_text(waiting["id"])
    # The jobs on the other nodes carry on.
    assert all(ray_server.job(job["id"])["status"] == "running" for job in long)

    assert ray_server.client.post(f"/api/jobs/{long[0]['id']}/stop").status_code == 200
    rerun = wait_for(lambda: (job := ray_server.job(waiting["id"]))["status"] == "running" and job["devices"]
                     and job, timeout=30, what="the job to run again on a freed node")
    assert rerun["attempts"] == 2 and node_of(rerun) != new_node
    for job in (long[1], waiting):
        ray_server.client.post(f"/api/jobs/{job['id']}/stop")
        ray_server.wait_status(job["id"], "stopped", timeout=20)


def test_without_the_head_the_api_serves_new_jobs_wait_and_run_when_it_is_back(
        start_server: Callable[..., Server], tmp_path: Path, open_page: Callable[..., Any]) -> None:
    port = free_port()
    first = RayCluster(tmp_path / "first", [1], STEP_S, head_port=port)
    second = None
    try:
        server = start_server("--ray", first.address, env=first.env)
        wait_for(lambda: server.health()["ray"]["connected"], what="the server to reach Ray")
        first.quit()
        health = wait_for(lambda: (h := server.health())["status"] == "degraded" and h, timeout=30,
                          what="/api/health to say Ray is out of reach")
        assert health["ray"]["connected"] is False and health["ray"]["error"]
        assert health["devices"]["gpus"] == [] and "out of reach" in health["devices"]["gpu_reason"]
        assert "fastvideo_ui_ray_up 0.0" in server.client.get("/metrics").text
        wan = next(m for m in server.client.get("/api/models").json() if m["id"] == WAN)
        assert wan["available"] and wan["limits"]["num_gpus"]["max"] is None  # not known: any count waits
        job = create(server, prompt="waits for the cluster")
        assert server.job(job["id"])["status"] == "queued"
        assert server.client.get("/api/jobs").status_code == 200
        warning = open_page(server).locator("cluster-panel .cluster-warning")
        expect(warning).to_contain_text(f"The Ray cluster at {first.address} is out of reach")
        expect(warning).to_contain_text("New GPU jobs wait for it")

        second = RayCluster(tmp_path / "second", [1], STEP_S, head_port=port)  # the head is back
        done = server.wait_status(job["id"], "completed", "failed", timeout=120)
        assert done["status"] == "completed", server.log_text(job["id"])
        assert server.health()["status"] == "ok"
        expect(warning).to_be_hidden()
    finally:
        first.quit()
        if second is not None:
            second.quit()


def test_a_ray_address_with_nothing_there_is_named_in_health(start_server: Callable[..., Server]) -> None:
    address = f"127.0.0.1:{free_port()}"
    server = start_server("--ray", address)
    health = server.health()
    assert health["status"] == "degraded" and health["ray"]["connected"] is False
    assert health["ray"]["error"].startswith(f"connecting to Ray at {address}")
    # Ray's own complaint, while it retries, says why.
    wait_for(lambda: "Failed to connect" in server.health()["ray"]["error"], timeout=30, what="Ray's reason")
    job = create(server, prompt="waits for a cluster that is not there yet")
    assert server.job(job["id"])["status"] == "queued"
