"""The built-in preview renderer: a real video on the CPU, with no weights.

It is not a generative model. It draws coloured shapes moving over a gradient,
all chosen from a hash of (prompt, seed), or, given an input image, a slow
pan and zoom across that image (its direction and depth chosen the same way),
and reaches that picture by iterative
refinement from noise, one pass over the whole latent tensor per step, so that
steps cost real time, progress is real and a stop lands between steps. The
same (prompt, seed, parameters) always give the same file, byte for byte.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import av
import numpy as np

from ..spec.fields import JobParams
from .base import GenerationRequest, GenerationResult, ModelConfig, Reporter
from .media import write_jpeg, write_mp4

log = logging.getLogger("fastvideo_ui.preview")

# Latents above this many values get a coarser grid, so memory stays bounded.
_MAX_LATENT_VALUES = 48_000_000
NOTICE = (
    "fastvideo-ui/preview is a procedural preview renderer, not a model: "
    "it draws an animation seeded by the prompt and seed, on the CPU"
)


def _rng(prompt: str, seed: int) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}\x00{prompt}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _latent_factor(frames: int, height: int, width: int) -> int:
    factor = 4
    while frames * (height // factor) * (width // factor) * 3 > _MAX_LATENT_VALUES and factor < 64:
        factor *= 2
    return factor


def render_scene(params: JobParams, lat_h: int, lat_w: int) -> np.ndarray:
    """The picture the refinement converges to: (frames, lat_h, lat_w, 3) in [-1, 1]."""
    rng = _rng(params.prompt, params.seed)
    frames = params.num_frames
    palette = rng.uniform(-0.9, 0.9, size=(5, 3)).astype(np.float32)
    t = (np.arange(frames, dtype=np.float32) / max(1, params.fps))[:, None, None]
    ys = np.linspace(0.0, 1.0, lat_h, dtype=np.float32)[None, :, None]
    xs = np.linspace(0.0, 1.0, lat_w, dtype=np.float32)[None, None, :]

    ripple = 0.5 + 0.5 * np.sin(6.0 * xs + 4.0 * ys + rng.uniform(0.5, 2.0) * t)
    mix = (0.6 * ys + 0.4 * ripple)[..., None]
    scene = palette[0] * (1.0 - mix) + palette[1] * mix

    aspect = lat_w / max(1, lat_h)
    for blob in range(int(rng.integers(3, 7))):
        cx, cy = rng.uniform(0.2, 0.8, size=2)
        orbit = rng.uniform(0.05, 0.3)
        speed = rng.uniform(0.3, 1.5) * rng.choice([-1.0, 1.0])
        phase = rng.uniform(0.0, 2 * np.pi)
        radius = rng.uniform(0.05, 0.16)
        colour = palette[2 + blob % 3]
        bx = cx + orbit * np.cos(speed * t + phase)
        by = cy + orbit * np.sin(speed * t + phase)
        dist2 = ((xs - bx) * aspect) ** 2 + (ys - by) ** 2
        weight = np.exp(-dist2 / (2 * radius**2))[..., None]
        scene = scene * (1.0 - weight) + colour * weight

    # guidance_scale plays its usual part: how strongly the picture is pushed
    contrast = 0.5 + min(params.guidance_scale, 20.0) / 10.0
    mean = scene.mean(axis=(1, 2), keepdims=True)
    return np.clip(mean + (scene - mean) * contrast, -1.0, 1.0).astype(np.float32)


def load_image(path: Path) -> np.ndarray:
    """An uploaded image (a PNG) as RGB uint8, (height, width, 3)."""
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        return frame.to_ndarray(format="rgb24")


def animate_image(params: JobParams, image: np.ndarray, lat_h: int, lat_w: int) -> np.ndarray:
    """A camera move across `image`, as render_scene's target: (frames, lat_h, lat_w, 3) in [-1, 1].
    The first frame is the image's largest centred crop of the video's shape."""
    rng = _rng(params.prompt, params.seed)
    source = image.astype(np.float32) / 127.5 - 1.0
    height, width = source.shape[:2]
    aspect = lat_w / lat_h
    base_w = min(float(width), height * aspect)
    base_h = base_w / aspect
    zoom_to = 1.0 + rng.uniform(0.08, 0.22)
    angle = rng.uniform(0.0, 2 * np.pi)
    frames = params.num_frames
    out = np.empty((frames, lat_h, lat_w, 3), dtype=np.float32)
    for index in range(frames):
        t = index / max(1, frames - 1)
        zoom = 1.0 + (zoom_to - 1.0) * t
        crop_w, crop_h = base_w / zoom, base_h / zoom
        centre_x = width / 2 + np.cos(angle) * (width - crop_w) / 2 * t
        centre_y = height / 2 + np.sin(angle) * (height - crop_h) / 2 * t
        xs = (centre_x - crop_w / 2 + (np.arange(lat_w) + 0.5) * crop_w / lat_w).astype(int).clip(0, width - 1)
        ys = (centre_y - crop_h / 2 + (np.arange(lat_h) + 0.5) * crop_h / lat_h).astype(int).clip(0, height - 1)
        out[index] = source[ys[:, None], xs[None, :]]
    return out


def _smooth(x: np.ndarray) -> np.ndarray:
    """A 3x3 box blur over the spatial axes."""
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
    out = np.zeros_like(x)
    for dy in range(3):
        for dx in range(3):
            out += padded[:, dy : dy + x.shape[1], dx : dx + x.shape[2]]
    return out / 9.0


def _to_rgb(latent_frame: np.ndarray) -> np.ndarray:
    return ((latent_frame + 1.0) * 127.5).clip(0, 255).astype(np.uint8)


class PreviewBackend:
    def __init__(self) -> None:
        self.config: ModelConfig | None = None

    def load(self, config: ModelConfig, reporter: Reporter, first: GenerationRequest | None = None) -> None:
        reporter.phase("loading model")
        self.config = config

    def generate(self, request: GenerationRequest, reporter: Reporter) -> GenerationResult:
        log.info(NOTICE)
        params = request.params
        factor = _latent_factor(params.num_frames, params.height, params.width)
        lat_h, lat_w = max(2, params.height // factor), max(2, params.width // factor)
        log.info(
            "rendering %d frames at %dx%d (latent grid %dx%d), %d steps, seed %d",
            params.num_frames, params.width, params.height, lat_w, lat_h,
            params.num_inference_steps, params.seed,
        )
        reporter.phase("encoding prompt")
        image = request.uploads.get("image")
        if image is not None:
            log.info("animating the input image %s", image.name)
            target = animate_image(params, load_image(image), lat_h, lat_w)
        else:
            target = render_scene(params, lat_h, lat_w)
        reporter.check_stop()

        reporter.phase("denoising")
        noise_rng = _rng(params.prompt, params.seed + 1)
        latent = noise_rng.standard_normal(target.shape, dtype=np.float32)
        total = params.num_inference_steps
        for index in range(total):
            reporter.check_stop()
            # Close a share of the remaining gap each step, smoothing what is
            # left of the noise; the last step lands on the target exactly.
            share = 1.0 / (total - index)
            residual = _smooth(target - latent)
            latent = latent + share * (target - latent) + share * (1.0 - share) * (residual - (target - latent))
            reporter.step(index + 1, total)
            # A line per step, as a real sampler's progress output gives: the
            # log console and its tests see a log as busy as a real run's.
            log.info("denoising step %d/%d, mean residual %.4f", index + 1, total, float(np.abs(residual).mean()))

        reporter.phase("decoding")
        rgb_frames = [_to_rgb(frame) for frame in latent]
        reporter.check_stop()

        reporter.phase("saving")
        request.output_path.parent.mkdir(parents=True, exist_ok=True)
        write_mp4(
            request.output_path,
            rgb_frames,
            params.width,
            params.height,
            params.fps,
            on_frame=lambda _i: reporter.check_stop(),
        )
        write_jpeg(request.poster_path, rgb_frames[len(rgb_frames) // 2], params.width, params.height)
        log.info("saved %s", request.output_path.name)
        return GenerationResult(request.output_path, request.poster_path)

    def unload(self) -> None:
        self.config = None
