"""A fake `fastvideo` 0.2.1 for tests: the same entry points and signatures
(tests/test_fastvideo_fake.py checks them against the real wheel's source),
no torch, no GPU. It spawns a child process per "GPU" that prints FastVideo's
log and tqdm formats, and writes a real MP4 at the returned `video_path`.

A prompt containing [oom], [hang], [crash] or [missing-output] misbehaves so.
FAKE_FASTVIDEO_RECORD names a JSON-lines file where loads, generations and
shutdowns are recorded; FAKE_FASTVIDEO_STEP_S sets the time per step.
"""

from .api.sampling_param import SamplingParam
from .entrypoints.video_generator import VideoGenerator

__version__ = "0.2.1"
__all__ = ["VideoGenerator", "SamplingParam", "__version__"]
