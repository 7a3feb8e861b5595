"""One fake GPU worker: `python -m fastvideo._gpu_worker RANK`. Commands come
as JSON lines on stdin, answers go on stdout; rank 0 draws the logs and the
tqdm bar on stderr, as FastVideo's rank-0 worker does. A failure is reported
the way FastVideo's worker_main reports it: logged, then SIGQUIT to the parent."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback

from ._log import log

STAGES = ["input_validation_stage|InputValidationStage", "prompt_encoding_stage|TextEncodingStage",
          "latent_preparation_stage|LatentPreparationStage", "denoising_stage|DenoisingStage"]


class OutOfMemoryError(RuntimeError):
    """Stands in for torch.OutOfMemoryError (a RuntimeError)."""


def bar(n: int, total: int, elapsed: float, per_step: float) -> str:
    percent = int(100 * n / total)
    filled = int(10 * n / total)
    remaining = "?" if n == 0 else time.strftime("%M:%S", time.gmtime(per_step * (total - n)))
    rate = "?it/s" if n == 0 else f"{per_step:5.2f}s/it"
    return (f"\r{percent:3d}%|{'█' * filled}{' ' * (10 - filled)}| {n}/{total} "
            f"[{time.strftime('%M:%S', time.gmtime(elapsed))}<{remaining}, {rate}]")


def run(rank: int, command: dict) -> dict:
    steps, mode, per_step = command["steps"], command["mode"], command["step_s"]
    if rank == 0:
        log(f"[{STAGES[0]}] Starting execution", "base.py", 148, sys.stderr)
        log(f"[{STAGES[1]}] Starting execution", "base.py", 148, sys.stderr)
    # stages/text_encoding.py:89
    assert command["guidance_scale"] <= 1 or isinstance(command["negative_prompt"], str)
    if rank == 0:
        for stage in STAGES[2:]:
            log(f"[{stage}] Starting execution", "base.py", 148, sys.stderr)
    start = time.monotonic()
    for n in range(steps + 1):
        if rank == 0:
            sys.stderr.write(bar(n, steps, time.monotonic() - start, per_step))
            sys.stderr.flush()
        if n == 2 and mode == "hang":
            while True:
                time.sleep(3600)
        if n == 1 and mode == "oom" and rank == 0:
            sys.stderr.write("\n")
            raise OutOfMemoryError(f"CUDA out of memory. Tried to allocate 20.00 GiB. GPU {rank} has a total capacity "
                                   "of 79.19 GiB of which 1.06 GiB is free. Including non-PyTorch memory, this "
                                   "process has 78.12 GiB memory in use.")
        if n == 1 and mode == "crash" and rank == 0:
            os.kill(os.getpid(), signal.SIGKILL)
        if n < steps:
            time.sleep(per_step)
    if rank == 0:
        sys.stderr.write("\n")
        log("[decoding_stage|DecodingStage] Starting execution", "base.py", 148, sys.stderr)
    return {"ok": True}


def main() -> None:
    rank = int(sys.argv[1])
    try:
        for line in sys.stdin:
            command = json.loads(line)
            if command["type"] == "exit":
                return
            if command["type"] == "fail":  # a set_lora_adapter that raised (the parent keeps the fake pipeline)
                raise RuntimeError(command["error"])
            answer = run(rank, command)
            sys.stdout.write(json.dumps(answer) + "\n")
            sys.stdout.flush()
    except Exception:  # worker/multiproc_executor.py worker_main
        log(f"Worker {rank} hit an exception: {traceback.format_exc()}", "multiproc_executor.py", 590,
            sys.stderr, level="ERROR")
        os.kill(os.getppid(), signal.SIGQUIT)
        sys.exit(1)


if __name__ == "__main__":
    main()
