"""A local Ray cluster with the fake FastVideo on its nodes, run as its own
process (tests/ray_cluster_process.py) so a node can be killed as a machine dies.
Used by tests/test_ray.py and bench/ray.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import FAKE_FASTVIDEO

CLUSTER_SCRIPT = Path(__file__).parent / "ray_cluster_process.py"


class RayCluster:
    def __init__(self, workdir: Path, gpus_per_node: list[int], step_s: float, head_port: int | None = None,
                 client_port: int | None = None) -> None:
        self.client_port = client_port
        workdir.mkdir(parents=True, exist_ok=True)
        self.record = workdir / "fake-fastvideo.jsonl"
        self._stderr = open(workdir / "cluster.err", "wb")
        self.env = {
            "PYTHONPATH": os.pathsep.join(filter(None, [str(FAKE_FASTVIDEO), os.environ.get("PYTHONPATH")])),
            "FAKE_FASTVIDEO_RECORD": str(self.record),
            "FAKE_FASTVIDEO_STEP_S": str(step_s),
            "HF_HUB_OFFLINE": "1",
        }
        self.proc = subprocess.Popen(
            [sys.executable, str(CLUSTER_SCRIPT), *map(str, gpus_per_node)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self._stderr,
            env={**os.environ, **self.env, "RAY_TEST_HEAD_PORT": str(head_port or ""),
                 "RAY_TEST_CLIENT_PORT": str(client_port or "")},
            text=True)
        started = self._answer()
        self.address: str = started["address"]
        self.nodes: list[str] = started["nodes"]

    def _answer(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"the Ray test cluster ended: exit {self.proc.wait()}"
        return json.loads(line)

    def command(self, text: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        return self._answer()

    def add(self, gpus: int) -> str:
        key = self.command(f"add {gpus}")["added"][:8]
        self.nodes.append(key)
        return key

    def kill(self, key: str) -> None:
        self.command(f"kill {key}")
        self.nodes.remove(key)

    def quit(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._stderr.close()

    def events(self, kind: str) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        rows = [json.loads(line) for line in self.record.read_text().splitlines() if line.strip()]
        return [row for row in rows if row["event"] == kind]
