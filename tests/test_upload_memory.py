"""What one upload may cost (issue 24, third round): a JPEG libjpeg must
buffer whole, a WebP, and metadata are judged by their headers before Pillow
opens or decodes them, and images are opened inside a decode slot."""

from __future__ import annotations

import gc
import io
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from conftest import Server, wait_for
from crafted_jpeg import jpeg
from fastvideo_ui.jobs.image_headers import jpeg_coefficient_bytes, read_headers
from fastvideo_ui.jobs.uploads import ImageLimits, UploadRefused, normalize_image, open_image

YUV420, YUV444, CMYK = ((2, 2), (1, 1), (1, 1)), ((1, 1),) * 3, ((1, 1),) * 4


def _encoded(picture: Image.Image, fmt: str, **save: Any) -> bytes:
    out = io.BytesIO()
    picture.save(out, format=fmt, **save)
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def text_png(chunks: int = 63, side: int = 1000) -> bytes:
    """The attacker's imgs.ztxt_png: zTXt chunks of 1 MiB of text, each about a kilobyte compressed."""
    png = _encoded(Image.new("RGB", (side, side), (1, 2, 3)), "PNG")
    text = zlib.compress(b"A" * (2**20 - 64), 9)
    return png[:33] + b"".join(_chunk(b"zTXt", f"k{i}".encode() + b"\0\0" + text) for i in range(chunks)) + png[33:]


def _calls_recorded(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, hold_s: float = 0.0) -> dict[str, int]:
    """Calls of owner.name: how many, and how many ran at once at most."""
    real = getattr(owner, name)
    seen = {"calls": 0, "running": 0, "most": 0}
    lock = threading.Lock()

    def recorded(*args: Any, **kwargs: Any) -> Any:
        with lock:
            seen["calls"] += 1
            seen["running"] += 1
            seen["most"] = max(seen["most"], seen["running"])
        try:
            time.sleep(hold_s)
            return real(*args, **kwargs)
        finally:
            with lock:
                seen["running"] -= 1

    monkeypatch.setattr(owner, name, recorded)
    return seen


# -- JPEGs libjpeg buffers whole ------------------------------------------------

def test_the_coefficient_buffer_is_what_libjpeg_allocates() -> None:
    # 2 bytes a coefficient of the full-size picture: 3 bytes a pixel for 4:2:0
    # colour, 6 for 4:4:4, 8 for CMYK; each component rounded up to whole MCUs.
    assert jpeg_coefficient_bytes((13000, 13000), list(YUV420)) == 3 * 13008 * 13008
    assert jpeg_coefficient_bytes((13300, 13300), list(CMYK)) == 8 * 13304 * 13304  # measured +1361 MiB
    assert jpeg_coefficient_bytes((100, 75), list(YUV444)) == 6 * 104 * 80


@pytest.mark.parametrize("layout", [
    dict(sampling=YUV420, progressive=True),   # the attacker's 13000x13000 RGB progressive: +496 MiB
    dict(sampling=CMYK, progressive=True),     # and 13300x13300 CMYK: +1,361 MiB
    dict(sampling=YUV420, interleaved=False),  # baseline, a scan per component: +497 MiB, no "progressive" flag
], ids=["progressive", "progressive CMYK", "a scan per component"])
def test_a_jpeg_libjpeg_buffers_whole_is_refused_by_its_headers_before_a_pixel_is_decoded(
        layout: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import ImageFile

    loads = _calls_recorded(monkeypatch, ImageFile.ImageFile, "load")
    with pytest.raises(UploadRefused) as refused:
        normalize_image(jpeg(13000, 13000, **layout))
    assert refused.value.status == 422
    message = str(refused.value)
    assert "13000x13000, a " in message and "libjpeg keeps every coefficient" in message
    assert "--max-image-memory" in message
    assert "A baseline JPEG of the same size is decoded reduced and fits" in message
    assert loads["calls"] == 0
    # The same picture as one baseline scan is decoded at 1/8 scale, as before.
    assert normalize_image(jpeg(13000, 13000, YUV420))[1:] == (1625, 1625, "JPEG")


def test_a_progressive_jpeg_within_the_budget_is_decoded() -> None:
    # A 12-megapixel progressive photo: 35 MiB of coefficients and its picture at 1/2 scale, about 47 MiB.
    assert normalize_image(jpeg(4032, 3024, YUV420, progressive=True))[1:] == (2016, 1512, "JPEG")
    with pytest.raises(UploadRefused, match="4032x3024, a progressive JPEG: .* about 47 MiB, over the 40 MiB"):
        open_image(jpeg(4032, 3024, YUV420, progressive=True), ImageLimits(memory=40 * 2**20))


# -- WebP ---------------------------------------------------------------------

def _webp_padded(extra: int) -> bytes:
    """A small WebP followed by an animation frame chunk of `extra` bytes: picture data, not metadata."""
    small = _encoded(Image.new("RGB", (64, 64), (9, 8, 7)), "WEBP")
    body = small[12:] + b"ANMF" + struct.pack("<I", extra) + b"\0" * extra
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


@pytest.mark.slow
def test_a_webp_is_judged_by_its_decoders_cost_before_pillow_opens_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # libwebp's animation decoder holds 16 bytes a pixel: a 3072x3072 WebP of
    # 16 KB cost +148 MiB. Pillow copies the file as it opens it, so the
    # header is read first and Image.open never runs.
    opens = _calls_recorded(monkeypatch, Image, "open")
    flat = _encoded(Image.new("RGB", (3072, 3072), (40, 90, 160)), "WEBP")
    assert read_headers(flat).canvas == (3072, 3072)
    with pytest.raises(UploadRefused) as refused:
        normalize_image(flat)
    assert refused.value.status == 422
    assert "3072x3072: a WebP takes 16 bytes a pixel to decode" in str(refused.value)
    assert "about 144 MiB, over the 80 MiB" in str(refused.value) and "send it as PNG or JPEG" in str(refused.value)
    # The file counts three times: 3 x 6 MiB of frames is over 16 MiB, whatever the pixels.
    with pytest.raises(UploadRefused, match="64x64: a WebP takes 16 bytes a pixel"):
        open_image(_webp_padded(6 * 2**20), ImageLimits(memory=16 * 2**20))
    assert opens["calls"] == 0
    # 2048x2048 (64 MiB of decoder) is taken, animated or not.
    assert normalize_image(_encoded(Image.new("RGB", (2048, 2048), (1, 2, 3)), "WEBP"))[1:] == (2048, 2048, "WEBP")
    frames = [Image.new("RGB", (2048, 2048), (i * 40, 90, 160)) for i in range(3)]
    animated = _encoded(frames[0], "WEBP", save_all=True, append_images=frames[1:])
    assert read_headers(animated).canvas == (2048, 2048)
    assert normalize_image(animated)[1:] == (2048, 2048, "WEBP")


# -- metadata -----------------------------------------------------------------

def _with_metadata(fmt: str, size: int) -> bytes:
    blob = np.random.default_rng(5).integers(0, 256, size, dtype=np.uint8).tobytes()
    picture = Image.new("RGB", (64, 64), (9, 8, 7))
    if fmt == "WEBP":
        return _encoded(picture, "WEBP", xmp=blob)
    if fmt == "JPEG":  # APP9 segments, after a junk byte that Pillow skips (so must the count)
        plain = _encoded(picture, "JPEG")
        segments = b"".join(b"\xff\xe9" + struct.pack(">H", 2 + len(part)) + part
                            for part in (blob[i:i + 65000] for i in range(0, size, 65000)))
        first = 4 + struct.unpack(">H", plain[4:6])[0]  # SOI and the JFIF segment: Pillow wants them first
        return plain[:first] + b"\x00" + segments + plain[first:]
    png = _encoded(picture, "PNG")
    return png[:33] + _chunk(b"eXIf", b"MM\0*" + blob[4:]) + png[33:]


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_metadata_over_the_cap_is_refused_before_pillow_reads_it(fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # 31 MiB of it in a 64x64 PNG or WebP cost +125 MiB: Pillow keeps it while
    # it reads the picture, and the server stores none of it.
    opens = _calls_recorded(monkeypatch, Image, "open")
    with pytest.raises(UploadRefused) as refused:
        open_image(_with_metadata(fmt, 5 * 2**20))
    assert refused.value.status == 422
    assert "carries 5 MiB of metadata" in str(refused.value) and "--max-image-metadata" in str(refused.value)
    assert opens["calls"] == 0
    assert normalize_image(_with_metadata(fmt, 100_000))[1:] == (64, 64, fmt)  # an EXIF's worth is fine
    with pytest.raises(UploadRefused, match="carries 98 KiB of metadata.*over the 64 KiB"):
        open_image(_with_metadata(fmt, 100_000), ImageLimits(metadata=64 * 1024))


def test_a_pngs_text_is_decompressed_only_up_to_the_cap() -> None:
    # Pillow decompressed up to 64 MiB of zTXt while it read the header: 63 MiB
    # in a 70 KB PNG cost +68 MiB, before any decode slot was taken.
    small = text_png()
    assert len(small) < 100_000 and read_headers(small).metadata < 100_000
    with pytest.raises(UploadRefused) as refused:
        open_image(small)
    assert refused.value.status == 422
    assert "the PNG's text, decompressed, is over the 4 MiB" in str(refused.value)
    assert normalize_image(text_png(chunks=2))[1:] == (1000, 1000, "PNG")  # 2 MiB of text is read, and dropped
    # An ICC profile is decompressed through Pillow's cap on one chunk (1 MiB) as before: a bomb is refused.
    png = _encoded(Image.new("RGB", (64, 64)), "PNG")
    bomb = png[:33] + _chunk(b"iCCP", b"icc\0\0" + zlib.compress(b"\0" * (100 * 2**20), 9)) + png[33:]
    with pytest.raises(UploadRefused, match="its ICC profile, decompresses to more than the 1 MiB"):
        open_image(bomb)


# -- the decode slot covers opening ---------------------------------------------

def test_images_are_opened_inside_the_decode_slots(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    # Opened before the slot, 20 text PNGs at once cost +1,029 MiB: each held
    # its text while it waited.
    opens = _calls_recorded(monkeypatch, Image, "open", hold_s=0.5)
    pictures = [_encoded(Image.new("RGB", (64 + i, 64), (i, 2, 3)), "PNG") for i in range(6)]
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda picture: server.client.post(
            "/api/uploads", content=picture, headers={"Content-Type": "image/png"}).status_code, pictures))
    assert answers == [201] * 6
    assert opens["calls"] == 6 and opens["most"] == 2  # --max-image-decodes' default


@pytest.mark.slow
def test_a_refused_upload_leaves_nothing_for_the_garbage_collector(server: Server) -> None:
    # A refusal raised in the worker thread reached the event loop in a
    # reference cycle (the future holds the exception, its traceback the frame
    # that holds the future), which kept every frame's locals, the file and
    # Pillow's half-read picture among them, until the collector's next full
    # pass: 20 refused text PNGs left +116 MiB behind.
    from PIL import PngImagePlugin

    sizes = {(64 + i, 64 + i) for i in range(3)}

    def pictures_alive() -> list[Any]:
        # Half-read: the header's size is known to the chunk reader only.
        return [o for o in gc.get_objects() if isinstance(o, PngImagePlugin.PngImageFile)
                and getattr(getattr(o, "png", None), "im_size", None) in sizes]

    gc.collect()
    gc.disable()
    try:
        for side, _ in sorted(sizes):
            answer = server.client.post("/api/uploads", content=text_png(side=side),
                                        headers={"Content-Type": "image/png"})
            assert answer.status_code == 422
        wait_for(lambda: not pictures_alive(), timeout=10, what="the refused pictures to be freed")
    finally:
        gc.enable()


def test_the_limits_come_from_their_flags(tmp_path: Path) -> None:
    from conftest import InProcessServer

    webp = _encoded(Image.new("RGB", (2048, 2048), (1, 2, 3)), "WEBP")  # 64 MiB of decoder
    tagged = _with_metadata("PNG", 100_000)
    strict = InProcessServer(tmp_path / "strict", ["--max-image-memory", str(32 * 2**20),
                                                   "--max-image-metadata", str(64 * 1024)]).start()
    try:
        for picture, kind, words in ((webp, "image/webp", "over the 32 MiB an upload may take"),
                                     (tagged, "image/png", "over the 64 KiB this server reads")):
            answer = strict.client.post("/api/uploads", content=picture, headers={"Content-Type": kind})
            assert answer.status_code == 422 and words in answer.json()["detail"][0]["msg"], answer.text
    finally:
        strict.terminate()


# -- the goal: any one upload under 100 MB ------------------------------------------

_PEAK = """
import io, sys, threading, warnings
warnings.simplefilter("ignore")
from PIL import Image
from fastvideo_ui.jobs.uploads import UploadRefused, normalize_image
def status(key):
    return next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith(key))
for fmt in ("PNG", "JPEG", "WEBP"):  # Pillow's imports are no cost of the upload
    warm = io.BytesIO()
    Image.new("RGB", (64, 64)).save(warm, format=fmt)
    normalize_image(warm.getvalue())
before = status("VmRSS:")
open("/proc/self/clear_refs", "w").write("5")  # the peak starts again from here
data = open(sys.argv[1], "rb").read()  # the body counts, as the server holds it
said = []
def save():
    try:
        said.append("%dx%d" % normalize_image(data)[1:3])
    except UploadRefused as exc:
        said.append(f"refused: {exc}")
worker = threading.Thread(target=save)  # a worker thread, as in the server
worker.start()
worker.join()
print(status("VmHWM:") - before, said[0])
"""

_CASES: dict[str, Callable[[], bytes]] = {
    "progressive 13000x13000 4:2:0": lambda: jpeg(13000, 13000, YUV420, progressive=True),
    "progressive 13300x13300 CMYK": lambda: jpeg(13300, 13300, CMYK, progressive=True),
    "a scan per component, 13000x13000": lambda: jpeg(13000, 13000, YUV420, interleaved=False),
    "progressive 3840x2880 4:4:4 (within the budget)": lambda: jpeg(3840, 2880, YUV444, progressive=True),
    "3072x3072 WebP, flat": lambda: _encoded(Image.new("RGB", (3072, 3072), (40, 90, 160)), "WEBP"),
    "2048x2048 WebP, flat (within the budget)": lambda: _encoded(Image.new("RGB", (2048, 2048), (4, 9, 16)), "WEBP"),
    "2048x2048 RGBA WebP, lossless, all detail": lambda: _encoded(Image.fromarray(np.random.default_rng(2).integers(
        0, 256, (2048, 2048, 4), dtype=np.uint8)), "WEBP", lossless=True, method=0),
    "64x64 PNG with 31 MiB of eXIf": lambda: _with_metadata("PNG", 31 * 2**20),
    "64x64 WebP with 31 MiB of XMP": lambda: _with_metadata("WEBP", 31 * 2**20),
}


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads and resets Linux's peak RSS")
@pytest.mark.parametrize("case", list(_CASES))
def test_any_one_upload_costs_under_100_mb(case: str, tmp_path: Path) -> None:
    # Each in a process of its own: its peak RSS (VmHWM) is the upload's, body included.
    picture = tmp_path / "picture"
    picture.write_bytes(_CASES[case]())
    done = subprocess.run([sys.executable, "-c", _PEAK, str(picture)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    peak, said = done.stdout.split(" ", 1)
    assert int(peak) < 100_000_000, f"{case}: peak +{int(peak) / 2**20:.0f} MiB ({said.strip()})"
