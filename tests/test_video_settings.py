"""Every MP4 carries the settings it was made with; the API reads them back
from an uploaded file, and the New job dialog fills itself from a dropped one."""

from __future__ import annotations

import base64
import io
import json
import struct
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from playwright.sync_api import Page, expect

from conftest import PREVIEW, InProcessServer, Server
from fastvideo_ui.backends.media import tag_mp4, write_mp4
from fastvideo_ui.backends.settings_tag import BrokenMp4, NotAnMp4, read_comment

JOB = {"model_id": PREVIEW, "prompt": "a fox, \u00e9t\u00e9 \U0001f98a", "negative_prompt": "blurry",
       "num_inference_steps": 3, "num_frames": 9, "height": 64, "width": 96, "seed": 4242, "fps": 12,
       "guidance_scale": 3.5}
SETTINGS = ("model_id", "prompt", "negative_prompt", "num_inference_steps", "num_frames", "height", "width", "seed",
            "fps", "guidance_scale")


def made_video(server: Server) -> tuple[dict, bytes]:
    job = server.create(**JOB, start=True)
    server.wait_status(job["id"], "completed")
    return job, server.client.get(f"/api/jobs/{job['id']}/video").content


def test_the_mp4_carries_its_settings_and_the_api_reads_them_back(server: Server) -> None:
    job, video = made_video(server)
    with av.open(io.BytesIO(video)) as container:  # any tool that reads MP4 tags sees them
        tagged = json.loads(container.metadata["comment"])["fastvideo_ui"]
        assert container.metadata["title"] == JOB["prompt"]
        assert sum(1 for _ in container.decode(video=0)) == JOB["num_frames"]  # still the whole video
    raw = server.client.post("/api/media/settings", content=video, headers={"Content-Type": "video/mp4"})
    form = server.client.post("/api/media/settings", files={"file": ("fox.mp4", video, "video/mp4")})
    assert raw.status_code == form.status_code == 200, raw.text
    settings = raw.json()["settings"]
    assert settings == form.json()["settings"] == tagged
    assert {name: settings[name] for name in SETTINGS} == {name: JOB[name] for name in SETTINGS}
    assert settings["job_id"] == job["id"] and settings["version"]


def test_files_without_settings_are_refused_by_kind(server: Server, tmp_path: Path) -> None:
    plain = tmp_path / "plain.mp4"
    write_mp4(plain, (np.zeros((16, 16, 3), np.uint8) for _ in range(3)), 16, 16, 8)
    answers = {
        "no settings": server.client.post("/api/media/settings", content=plain.read_bytes(),
                                          headers={"Content-Type": "video/mp4"}),
        "not an mp4": server.client.post("/api/media/settings", content=b"GIF89a" + b"\0" * 64,
                                         headers={"Content-Type": "video/mp4"}),
        "not a video type": server.client.post("/api/media/settings", json={"prompt": "x"}),
        "form without file": server.client.post("/api/media/settings", files={"other": ("a", b"x")}),
    }
    assert {what: answer.status_code for what, answer in answers.items()} == {
        "no settings": 422, "not an mp4": 415, "not a video type": 415, "form without file": 422}
    assert answers["no settings"].json()["detail"][0]["loc"] == ["body", "file"]
    assert "no fastvideo-ui settings" in answers["no settings"].json()["detail"][0]["msg"]
    # The route takes files far over the API's usual 256 KB body cap.
    big = plain.read_bytes() + b"\0" * (300 * 1024)
    assert server.client.post("/api/media/settings", content=big,
                              headers={"Content-Type": "video/mp4"}).status_code == 422


def _box(kind: bytes, payload: bytes, large: bool = False) -> bytes:
    if large:
        return struct.pack(">I4sQ", 1, kind, 16 + len(payload)) + payload
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def test_the_box_reader_finds_the_tag_wherever_the_muxer_put_it() -> None:
    comment = '{"fastvideo_ui":{"prompt":"x"}}'.encode()
    data = _box(b"data", struct.pack(">II", 1, 0) + comment)
    ilst = _box(b"ilst", _box(b"\xa9cmt", data))
    moov = _box(b"moov", _box(b"udta", _box(b"meta", b"\0\0\0\0" + _box(b"hdlr", b"\0" * 25) + ilst)))
    # The index after a large media box with a 64-bit size (no faststart): the reader seeks past the media.
    file = _box(b"ftyp", b"isom\0\0\2\0") + _box(b"mdat", b"\1" * 100_000, large=True) + moov
    assert read_comment(io.BytesIO(file), len(file)) == comment.decode()
    with pytest.raises(NotAnMp4, match="runs past its end"):  # a file cut short
        read_comment(io.BytesIO(file[:-1]), len(file) - 1)
    untagged = _box(b"ftyp", b"isom\0\0\2\0") + _box(b"moov", _box(b"mvhd", b"\0" * 100))
    assert read_comment(io.BytesIO(untagged), len(untagged)) is None
    with pytest.raises(NotAnMp4):
        read_comment(io.BytesIO(b"\x89PNG\r\n\x1a\n" + b"\0" * 20), 28)


def _tiny_boxes(count: int, before: bytes = b"") -> bytes:
    """An MP4 of `count` empty 8-byte boxes after its ftyp (issue 24: 32 MiB of them cost 786 MB)."""
    return _box(b"ftyp", b"isom\0\0\2\0") + before + b"\0\0\0\x08free" * count


@pytest.mark.slow
def test_the_box_reader_walks_lazily_and_holds_one_box_at_a_time() -> None:
    # It stops at the box it wants: a broken box after the tag is never reached.
    comment = b'{"fastvideo_ui":{"prompt":"x"}}'
    ilst = _box(b"ilst", _box(b"\xa9cmt", _box(b"data", struct.pack(">II", 1, 0) + comment)))
    moov = _box(b"moov", _box(b"udta", _box(b"meta", b"\0\0\0\0" + ilst)))
    file = _box(b"ftyp", b"isom\0\0\2\0") + moov + struct.pack(">I4s", 1 << 20, b"free")
    assert read_comment(io.BytesIO(file), len(file)) == comment.decode()
    # A million boxes walked to the end (no cap) cost what one does.
    many = _tiny_boxes(1_000_000)
    tracemalloc.start()
    try:
        assert read_comment(io.BytesIO(many), len(many), max_boxes=10**7) is None
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100_000, f"{peak} bytes"


def test_a_file_of_countless_tiny_boxes_is_refused_after_the_cap(server: Server, tmp_path: Path) -> None:
    from fastvideo_ui.backends.settings_tag import TooManyBoxes

    reads = []

    class Counted(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            reads.append(size)
            return super().read(size)

    many = _tiny_boxes(1_000_000)
    with pytest.raises(TooManyBoxes, match="more than 10000 boxes"):
        read_comment(Counted(many), len(many))
    assert len(reads) <= 10_001 + 1  # the head, then one header a box
    answer = server.client.post("/api/media/settings", content=_tiny_boxes(20_000),
                                headers={"Content-Type": "video/mp4"})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "file"]
    assert "more than 10000 boxes before its settings tag" in answer.json()["detail"][0]["msg"]
    capped = InProcessServer(tmp_path / "capped", ["--max-mp4-boxes", "100"]).start()
    try:
        answer = capped.client.post("/api/media/settings", files={"file": ("a.mp4", _tiny_boxes(200), "video/mp4")})
        assert answer.status_code == 422 and "more than 100 boxes" in answer.json()["detail"][0]["msg"]
    finally:
        capped.terminate()


def _short_box_mp4(data_size: int | None, media: bytes = b"\xf0\x9f\x98\x80" + b"A" * 100_000) -> bytes:
    """The attacker's mp4bomb.py: a comment whose `data` box says it is `data_size`
    bytes long, or (None) a `meta` box too short for its version and flags; then media."""
    if data_size is None:
        meta = _box(b"meta", b"\0\0")
    else:
        data = struct.pack(">I4s", data_size, b"data") + b"\0" * (data_size - 8)
        meta = _box(b"meta", b"\0\0\0\0" + _box(b"ilst", _box(b"\xa9cmt", data)))
    return _box(b"ftyp", b"isom\0\0\2\0") + _box(b"moov", _box(b"udta", meta)) + _box(b"mdat", media)


class _Reads(io.BytesIO):
    """A file that records the length of every read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.lengths: list[int | None] = []

    def read(self, size: int | None = -1) -> bytes:
        self.lengths.append(size)
        return super().read(size)


@pytest.mark.parametrize("data_size", [*range(8, 16), None])
def test_a_box_too_short_for_its_own_fields_is_refused_and_nothing_past_it_read(data_size: int | None) -> None:
    # The data box's 8 bytes of type and locale were skipped unchecked: size 15
    # asked for read(-1), the whole rest of the file (a 200 MiB upload cost
    # +599 MiB), and sizes 9 to 14 for read(-2..-7), a ValueError (a 500) from
    # a file spooled to disk.
    file = _short_box_mp4(data_size)
    stream = _Reads(file)
    with pytest.raises(BrokenMp4, match="too short for its"):
        read_comment(stream, len(file))
    assert all(length is not None and 0 <= length <= 16 for length in stream.lengths), stream.lengths
    with tempfile.SpooledTemporaryFile(max_size=1024) as spooled:  # on disk, as the API's is past 4 MiB
        spooled.write(file)
        with pytest.raises(BrokenMp4):
            read_comment(spooled, len(file))


def test_a_data_box_with_just_its_fields_holds_an_empty_comment() -> None:
    file = _short_box_mp4(16)
    stream = _Reads(file)
    assert read_comment(stream, len(file)) == ""
    assert max(length or 0 for length in stream.lengths) <= 16


def test_short_boxes_and_unreadable_settings_are_422s_never_500s(server: Server) -> None:
    def post(file: bytes) -> Any:
        return server.client.post("/api/media/settings", content=file, headers={"Content-Type": "video/mp4"})

    for size in (*range(8, 16), None):
        answer = post(_short_box_mp4(size, b"A" * (5 << 20)))  # spooled to disk past 4 MiB
        assert answer.status_code == 422, (size, answer.text)
        assert "too short for its" in answer.json()["detail"][0]["msg"]
    # A tag of ours in name that JSON cannot send back: NaN, infinity, a lone
    # surrogate, nesting past the parser's depth, or any nesting at all.
    for settings in ('{"seed":NaN}', '{"fps":1e999}', '{"prompt":"\\ud800"}', '{"\\udfff":1}',
                     '{"prompt":' + "[" * 100_000 + "]" * 100_000 + "}", '{"prompt":["a"]}'):
        comment = ('{"fastvideo_ui":' + settings + "}").encode()
        tag = _box(b"data", struct.pack(">II", 1, 0) + comment)
        moov = _box(b"moov", _box(b"udta", _box(b"meta", b"\0\0\0\0" + _box(b"ilst", _box(b"\xa9cmt", tag)))))
        answer = post(_box(b"ftyp", b"isom\0\0\2\0") + moov)
        assert answer.status_code == 422, (settings[:40], answer.text)
        assert "carries no fastvideo-ui settings" in answer.json()["detail"][0]["msg"]


def test_settings_reads_at_once_are_bounded(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    from fastvideo_ui.api import media

    real = media.read_comment
    seen = {"running": 0, "most": 0}
    lock = threading.Lock()

    def read_comment_slowly(*args: Any) -> Any:
        with lock:
            seen["running"] += 1
            seen["most"] = max(seen["most"], seen["running"])
        try:
            time.sleep(0.5)
            return real(*args)
        finally:
            with lock:
                seen["running"] -= 1

    monkeypatch.setattr(media, "read_comment", read_comment_slowly)
    file = _tiny_boxes(10)
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: server.client.post("/api/media/settings", content=file, headers={
            "Content-Type": "video/mp4"}).status_code, range(6)))
    assert answers == [422] * 6
    assert seen["most"] == 2  # --max-settings-reads' default


def test_tagging_copies_the_streams_untouched(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    frames = [np.full((32, 48, 3), value, np.uint8) for value in (0, 80, 160, 240)]
    write_mp4(path, iter(frames), 48, 32, 8)
    with av.open(str(path)) as before:
        packets = [bytes(packet) for packet in before.demux(video=0) if packet.size]
    tag_mp4(path, {"comment": "hello"})
    with av.open(str(path)) as after:
        assert after.metadata["comment"] == "hello" and after.streams.video[0].average_rate == 8
        assert [bytes(packet) for packet in after.demux(video=0) if packet.size] == packets
    assert not list(tmp_path.glob("*.part"))


def _with_sound_and_subtitles(path: Path) -> None:
    """An MP4 with an H.264 video, an AAC audio stream (LTX-2's videos carry sound) and a mov_text subtitle."""
    with av.open(str(path), mode="w", format="mp4") as out:
        video = out.add_stream("libx264", rate=8)
        video.width, video.height, video.pix_fmt = 64, 64, "yuv420p"
        audio = out.add_stream("aac", rate=16000)
        subtitle = out.add_stream("mov_text")
        subtitle.codec_context.time_base = Fraction(1, 1000)
        subtitle.codec_context.subtitle_header = b""  # mov_text's encoder will not open without one
        for shade in range(0, 240, 30):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), shade, np.uint8), format="rgb24")
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        for index in range(16):
            tone = np.sin(np.arange(1024, dtype=np.float32) * (0.05 + index / 100))[None, :]
            samples = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
            samples.sample_rate, samples.pts = 16000, index * 1024
            for packet in audio.encode(samples):
                out.mux(packet)
        for packet in audio.encode(None):
            out.mux(packet)
        line = b"a fox"  # a mov_text sample: its length, then its text
        cue = av.Packet(struct.pack(">H", len(line)) + line)
        cue.stream, cue.pts, cue.dts, cue.duration, cue.time_base = subtitle, 0, 0, 500, Fraction(1, 1000)
        out.mux(cue)


def test_tagging_keeps_every_stream_sound_and_subtitles_too(tmp_path: Path) -> None:
    path = tmp_path / "loud.mp4"
    _with_sound_and_subtitles(path)

    def streams_and_packets() -> tuple[list[tuple[str, str]], dict[str, list[bytes]]]:
        with av.open(str(path)) as container:
            kinds = [(stream.type, stream.codec_context.name) for stream in container.streams]
            packets: dict[str, list[bytes]] = {}
            for packet in container.demux():
                if packet.size:
                    packets.setdefault(packet.stream.type, []).append(bytes(packet))
            return kinds, packets

    kinds, packets = streams_and_packets()
    assert kinds == [("video", "h264"), ("audio", "aac"), ("subtitle", "mov_text")]
    assert tag_mp4(path, {"comment": "hello"}, tmp_path / "poster.jpg") is None
    assert streams_and_packets() == (kinds, packets)  # every stream, packet for packet
    with av.open(str(path)) as tagged:
        assert tagged.metadata["comment"] == "hello" and tagged.streams.audio[0].sample_rate == 16000
    assert (tmp_path / "poster.jpg").stat().st_size > 0


def test_dropping_an_mp4_on_the_new_job_dialog_fills_the_form(server: Server,
                                                              open_page: Callable[..., Page],
                                                              tmp_path: Path) -> None:
    _, video = made_video(server)
    page = open_page(server)
    page.locator("header [data-action=new-job]").click()
    dialog = page.locator("dialog.create-job")
    expect(dialog).to_be_visible()
    page.fill("#cj-prompt", "something else")
    page.fill("#cj-num_frames", "33")
    # What a drop from the file manager dispatches: a drop event whose DataTransfer holds the file.
    page.evaluate("""([name, data]) => {
        const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], name, { type: "video/mp4" }));
        const dialog = document.querySelector("dialog.create-job");
        dialog.dispatchEvent(new DragEvent("dragover", { dataTransfer: transfer, bubbles: true, cancelable: true }));
        dialog.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
    }""", ["fox.mp4", base64.b64encode(video).decode()])
    expect(page.locator("#cj-prompt")).to_have_value(JOB["prompt"])
    for name in ("num_inference_steps", "num_frames", "height", "width", "seed", "fps", "guidance_scale"):
        expect(page.locator(f"#cj-{name}")).to_have_value(str(JOB[name]))
    expect(page.locator("#cj-negative_prompt")).to_have_value(JOB["negative_prompt"])
    expect(page.locator("#cj-model_id")).to_have_value(PREVIEW)
    page.locator("dialog.create-job button[type=submit]").click()
    expect(dialog).to_be_hidden()
    remade = server.client.get("/api/jobs").json()[0]
    assert {name: remade[name] for name in SETTINGS} == {name: JOB[name] for name in SETTINGS}
    server.wait_status(remade["id"], "completed")  # none left running when the server stops

    # The button does the same from a file picker; a file without settings says so in the dialog.
    plain = tmp_path / "plain.mp4"
    write_mp4(plain, (np.zeros((16, 16, 3), np.uint8) for _ in range(3)), 16, 16, 8)
    page.locator("header [data-action=new-job]").click()
    expect(page.locator("dialog.create-job")).to_be_visible()  # opened, its model list filled
    page.set_input_files("#cj-from-video", str(plain))
    expect(dialog.locator(".form-error")).to_contain_text("plain.mp4: file: this MP4 carries no fastvideo-ui settings")


def test_a_video_that_cannot_be_tagged_is_still_the_jobs_result(tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    from job_values import job_params

    from fastvideo_ui.backends.base import GenerationRequest, GenerationResult
    from fastvideo_ui.workers.main import Worker

    video = tmp_path / "not-really.mp4"
    video.write_bytes(b"not an mp4 at all")
    request = GenerationRequest(job_id="j", params=job_params(model_id=PREVIEW, prompt="p", num_inference_steps=1,
                                                              num_frames=1, seed=1, fps=8),
                                output_path=video, poster_path=tmp_path / "p.jpg")
    result = Worker._finish(request, GenerationResult(video, None))
    assert result == GenerationResult(video, None)  # the job's result, with no poster
    assert video.read_bytes() == b"not an mp4 at all"  # untouched, and no exception
    assert "does not carry its settings" in caplog.text
    assert not (tmp_path / "p.jpg").exists()


def test_tagging_draws_the_poster_from_the_middle_frame_in_the_same_read(tmp_path: Path) -> None:
    from fastvideo_ui.backends.media import poster_from_video, tag_mp4

    video = tmp_path / "v.mp4"
    shades = [0, 60, 120, 180, 240]  # five frames, each one grey level: the middle is 120
    write_mp4(video, (np.full((64, 64, 3), shade, np.uint8) for shade in shades), 64, 64, 8)
    assert tag_mp4(video, {"comment": "hello"}, tmp_path / "p.jpg") is None
    with av.open(str(video)) as tagged:
        assert tagged.metadata["comment"] == "hello" and tagged.streams.video[0].frames == 5
    with av.open(str(tmp_path / "p.jpg")) as poster:
        middle = next(poster.decode(video=0)).to_ndarray(format="rgb24")
    assert abs(int(middle.mean()) - 120) <= 3
    poster_from_video(video, tmp_path / "alone.jpg")  # the same frame where no tagging draws it
    with av.open(str(tmp_path / "alone.jpg")) as alone:
        assert abs(int(next(alone.decode(video=0)).to_ndarray(format="rgb24").mean()) - 120) <= 3
    empty = tmp_path / "audio-only.mp4"
    with av.open(str(empty), mode="w", format="mp4") as out:  # no video stream: tagged, and says why no poster
        stream = out.add_stream("aac", rate=8000)
        silence = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        silence.sample_rate = 8000
        for packet in [*stream.encode(silence), *stream.encode(None)]:
            out.mux(packet)
    assert tag_mp4(empty, {"comment": "x"}, tmp_path / "q.jpg") == "the file has no video stream"


def test_a_list_fields_records_are_settings_and_nothing_deeper_is() -> None:
    from fastvideo_ui.backends.settings_tag import decode, encode

    loras = [{"lora": "ink", "strength": 0.8, "expert": None}, {"lora": "org/repo", "strength": -1, "expert": None}]
    assert decode(encode({"prompt": "p", "loras": loras})) == {"prompt": "p", "loras": loras}
    for bad in ([{"lora": {"deeper": 1}}], [["a"]], [1.5], [{"lora": "x"}] * 17):
        assert decode(encode({"prompt": "p", "loras": bad})) is None, bad
    assert decode('{"fastvideo_ui": {"loras": [{"strength": NaN}]}}') is None
