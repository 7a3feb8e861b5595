"""A local Ray cluster for the tests, run as its own process and driven by
lines on stdin, so that a test can kill a node as a machine would die:

    add GPUS     -> {"added": "<node id>"}
    kill KEY     -> {"killed": "<node id>"}   (KEY: the first 8 hex digits)
    quit

It prints {"address": ...} once the head and the first nodes are up
(`python ray_cluster_process.py 2 2`: two nodes with 2 GPUs each; with
RAY_TEST_HEAD_PORT set, the head listens on that port; with RAY_TEST_CLIENT_PORT,
it serves Ray Client there). Every node runs with
this process's environment, so the tests' PYTHONPATH (the fake FastVideo)
reaches the workers Ray starts.
"""

from __future__ import annotations

import json
import os
import sys

from ray.cluster_utils import Cluster


def say(message: dict[str, str]) -> None:
    print(json.dumps(message), flush=True)


def main() -> None:
    # The head has no GPU: jobs land only on the GPU nodes the test controls.
    head: dict[str, object] = {"num_cpus": 0, "num_gpus": 0, "include_dashboard": False}
    if os.environ.get("RAY_TEST_HEAD_PORT"):
        head["gcs_server_port"] = int(os.environ["RAY_TEST_HEAD_PORT"])
    if os.environ.get("RAY_TEST_CLIENT_PORT"):  # Ray Client (ray://) on the head
        head["ray_client_server_port"] = int(os.environ["RAY_TEST_CLIENT_PORT"])
    cluster = Cluster(initialize_head=True, head_node_args=head)
    nodes = {}
    for gpus in sys.argv[1:]:
        node = cluster.add_node(num_cpus=0, num_gpus=int(gpus))
        nodes[node.node_id[:8]] = node
    cluster.wait_for_nodes()
    say({"address": cluster.address, "nodes": list(nodes)})
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        if command == "add":
            node = cluster.add_node(num_cpus=0, num_gpus=int(argument))
            nodes[node.node_id[:8]] = node
            say({"added": node.node_id})
        elif command == "kill":
            node = nodes.pop(argument)
            cluster.remove_node(node, allow_graceful=False)
            say({"killed": node.node_id})
        elif command == "quit":
            break
    cluster.shutdown()


if __name__ == "__main__":
    main()
