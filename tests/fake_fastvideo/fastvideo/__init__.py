"""A fake `fastvideo` 0.2.1 for tests: the same entry points and signatures
(tests/test_fastvideo_fake.py checks them against the real wheel's source),
no torch, no GPU. It spawns a child process per "GPU" that prints FastVideo's
log and tqdm formats, and writes a real MP4 at the returned `video_path`.

It is kept for what the real library cannot do on this CPU (several GPUs,
NVML, GPU ids), and does what the real one does where our backend depends on
it (tests/test_real_fastvideo.py runs the real one):
- its logger writes to stdout, and importing it logs a line;
- `platforms/cuda.py` calls int() on every CUDA_VISIBLE_DEVICES entry;
- a GPU worker that fails logs "Worker N hit an exception: <traceback>" and
  sends SIGQUIT to its parent, and the parent raises
  RuntimeError("Forward execution thread failed. ..."), as it does for a worker
  that was killed;
- a None negative prompt with guidance > 1 fails its text-encoding assert.

A prompt containing [oom], [hang], [crash] or [missing-output] misbehaves so.
FAKE_FASTVIDEO_RECORD names a JSON-lines file where loads, generations and
shutdowns are recorded; FAKE_FASTVIDEO_STEP_S sets the time per step.
"""

from ._log import log
from .api.sampling_param import SamplingParam
from .entrypoints.video_generator import VideoGenerator

__version__ = "0.2.1"
__all__ = ["VideoGenerator", "SamplingParam", "__version__"]

log("Automatically detected platform cuda.", "__init__.py", 43)
