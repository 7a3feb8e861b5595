"""The preview renderer writes a real, deterministic, browser-playable MP4."""

from __future__ import annotations

import hashlib
from pathlib import Path

import av
import pytest
from job_values import job_params

from fastvideo_ui.backends.base import GenerationRequest, ModelConfig, StopRequested
from fastvideo_ui.backends.preview import PreviewBackend


class Recorder:
    def __init__(self, stop_after: int | None = None) -> None:
        self.phases: list[str] = []
        self.steps: list[tuple[int, int]] = []
        self.stop_after = stop_after

    def phase(self, name: str) -> None:
        self.phases.append(name)

    def step(self, index: int, total: int) -> None:
        self.steps.append((index, total))

    def check_stop(self) -> None:
        if self.stop_after is not None and len(self.steps) >= self.stop_after:
            raise StopRequested()


def render(tmp: Path, name: str, reporter: Recorder | None = None, **overrides) -> Path:
    files = {"output_path": tmp / f"{name}.mp4", "poster_path": tmp / f"{name}.jpg"}
    values = dict(prompt="a lighthouse at dusk", negative_prompt="", num_inference_steps=5,
                  num_frames=17, height=96, width=160, guidance_scale=5.0, seed=7, fps=12)
    for key, value in overrides.items():
        (files if key in ("output_path", "poster_path") else values)[key] = value
    backend = PreviewBackend()
    reporter = reporter or Recorder()
    backend.load(ModelConfig("fastvideo-ui/preview"), reporter)
    request = GenerationRequest(job_id=name, params=job_params(model_id="fastvideo-ui/preview", **values), **files)
    return backend.generate(request, reporter).video_path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_h264_yuv420p_faststart_with_requested_shape(tmp_path: Path) -> None:
    path = render(tmp_path, "a")
    data = path.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat"), "index must come first to stream"
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert (stream.codec_context.width, stream.codec_context.height) == (160, 96)
        assert stream.average_rate == 12
        assert sum(1 for _ in container.decode(video=0)) == 17
    assert (tmp_path / "a.jpg").read_bytes()[:2] == b"\xff\xd8"


def test_deterministic_from_prompt_and_seed(tmp_path: Path) -> None:
    # Several renders, not two: an encoder that varies now and then (x264's
    # AVX-512 code did, in about one encode in five) must not slip through.
    assert len({digest(render(tmp_path, f"same{i}")) for i in range(8)}) == 1
    assert digest(render(tmp_path, "a")) != digest(render(tmp_path, "c", seed=8))
    assert digest(render(tmp_path, "a")) != digest(render(tmp_path, "d", prompt="a lighthouse at dawn"))


def test_every_step_reported_and_phases_in_order(tmp_path: Path) -> None:
    reporter = Recorder()
    render(tmp_path, "a", reporter, num_inference_steps=6)
    assert reporter.steps == [(i, 6) for i in range(1, 7)]
    assert reporter.phases == ["loading model", "encoding prompt", "denoising", "decoding", "saving"]


def test_stop_between_steps_leaves_no_file(tmp_path: Path) -> None:
    with pytest.raises(StopRequested):
        render(tmp_path, "a", Recorder(stop_after=2), num_inference_steps=50)
    assert list(tmp_path.iterdir()) == []
