"""A LoRA switch on a warm worker against a cold load. Prints figures; asserts nothing.

    .venv/bin/python bench/lora.py [--library fake|real|both] [--loads 3] [--switches 12]

The FastVideo backend (backends/fastvideo.py), driven in a process of its own
as a worker drives it: `load` (FastVideo's from_pretrained, GPU worker spawn
included) --loads times, and after each load --switches LoRA changes through
the same path a job takes (adapters_of, then set_lora_adapter: back to the base,
then the job's), cycling through one LoRA at 1, the same at 0.5, a second one,
a stack of both, and none. "fake" is tests/fake_fastvideo (0.2.1's signatures,
a child process per GPU); "real" is fastvideo 0.2.1 on this CPU with the tiny
random Wan checkpoint and tiny random LoRAs (scripts/fastvideo-env.sh's
environment, the tests' CPU shims). Medians, and the load's multiple of a switch.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
WAN = "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"


class QuietReporter:
    def phase(self, name: str) -> None:
        pass

    def step(self, index: int, total: int) -> None:
        pass

    def warn(self, text: str) -> None:
        print(f"warning: {text}", file=sys.stderr)

    def check_stop(self) -> None:
        pass


def inner(loras: list[str], loads: int, switches: int) -> dict[str, Any]:
    """In the worker's interpreter: time loads and switches of FastVideoBackend."""
    from fastvideo_ui.backends.base import GenerationRequest, ModelConfig
    from fastvideo_ui.backends.fastvideo import FastVideoBackend
    from fastvideo_ui.spec.rules import EFFECTIVE_DEFAULTS

    # On a CPU, FastVideo's text encoder must not be offloaded (shared/spec/fastvideo-on-cpu.md).
    values = dict(EFFECTIVE_DEFAULTS) | {"model_id": WAN, "num_gpus": 1, "text_encoder_cpu_offload": False}
    config = ModelConfig.for_params(argparse.Namespace(**values))
    first, second = loras
    cycle = [[(first, 1.0)], [(first, 0.5)], [(second, 1.0)], [(first, 1.0), (second, -0.5)], []]
    backend, reporter = FastVideoBackend(), QuietReporter()
    load_s: list[float] = []
    switch_s: list[float] = []
    for _ in range(loads):
        started = time.perf_counter()
        backend.load(config, reporter)
        load_s.append(time.perf_counter() - started)
        for index in range(switches):
            wanted = cycle[index % len(cycle)]
            resolved = [{"lora": Path(path).name, "path": path, "strength": strength} for path, strength in wanted]
            request = GenerationRequest("bench", None, Path("unused.mp4"), Path("unused.jpg"),  # type: ignore[arg-type]
                                        resolved={"loras": resolved})
            started = time.perf_counter()
            backend._adapt(request, reporter)
            switch_s.append(time.perf_counter() - started)
        backend.unload()
    return {"load_s": load_s, "switch_s": switch_s}


def _lora_file(path: Path, blocks: tuple[int, ...]) -> None:
    """A tiny PEFT-style LoRA the fake reads (its header's keys)."""
    sys.path.insert(0, str(TESTS))
    from test_lora_runs import lora_file

    path.write_bytes(lora_file(blocks))


def run_library(library: str, loads: int, switches: int, scratch: Path) -> dict[str, Any]:
    env = dict(os.environ)
    if library == "fake":
        python = str(ROOT / ".venv" / "bin" / "python")
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(TESTS / "fake_fastvideo")])
        paths = [scratch / "a.safetensors", scratch / "b.safetensors"]
        _lora_file(paths[0], (0,))
        _lora_file(paths[1], (0, 1))
    else:
        python = str(ROOT / ".venv-fastvideo" / "bin" / "python")
        hf_home = scratch / "hf"
        env.update(PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(TESTS / "real_fastvideo" / "site")]),
                   HF_HOME=str(hf_home), HF_HUB_OFFLINE="1")
        subprocess.run([python, str(TESTS / "real_fastvideo" / "build_tiny_wan.py"), str(hf_home)], env=env,
                       check=True, capture_output=True, timeout=600)
        paths = [scratch / "a.safetensors", scratch / "b.safetensors"]
        for seed, path in enumerate(paths):
            subprocess.run([python, str(TESTS / "real_fastvideo" / "build_tiny_lora.py"), str(path), "--hf-home",
                            str(hf_home), "--seed", str(seed)], env=env, check=True, capture_output=True,
                           timeout=300)
    out = scratch / f"{library}.json"
    code = (f"import json, sys; sys.path.insert(0, {str(ROOT / 'bench')!r}); from lora import inner; "
            f"json.dump(inner({[str(p) for p in paths]!r}, {loads}, {switches}), open({str(out)!r}, 'w'))")
    done = subprocess.run([python, "-c", code], env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode:
        sys.exit(f"the {library} run failed:\n{done.stderr[-3000:]}")
    return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--library", choices=("fake", "real", "both"), default="both")
    parser.add_argument("--loads", type=int, default=3)
    parser.add_argument("--switches", type=int, default=12)
    args = parser.parse_args()
    libraries = ("fake", "real") if args.library == "both" else (args.library,)
    with tempfile.TemporaryDirectory(prefix="lora-bench-") as scratch:
        for library in libraries:
            (Path(scratch) / library).mkdir()
            figures = run_library(library, args.loads, args.switches, Path(scratch) / library)
            load, switch = statistics.median(figures["load_s"]), statistics.median(figures["switch_s"])
            print(f"{library:5s} cold load: median {load * 1000:8.1f} ms over {len(figures['load_s'])}; "
                  f"LoRA switch: median {switch * 1000:7.2f} ms over {len(figures['switch_s'])} "
                  f"(min {min(figures['switch_s']) * 1000:.2f}, max {max(figures['switch_s']) * 1000:.2f}); "
                  f"a load is {load / switch:,.0f}x a switch")


if __name__ == "__main__":
    main()
