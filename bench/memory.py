"""The server's memory under the biggest things a client can make it hold.
Prints RSS before, at its peak during and after each scenario; asserts nothing.

    .venv/bin/python bench/memory.py [lists] [--jobs 100000] [--prompt-chars 2000] [--clients 4] [--log-lines 1000000]
    .venv/bin/python bench/memory.py uploads [--concurrent 4] [--concurrent-text 20] [--case WORD]
    .venv/bin/python bench/memory.py mp4 [--mib 32] [--media-mib 200]
    .venv/bin/python bench/memory.py ring [--jobs 3000]
    .venv/bin/python bench/memory.py stalled [--readers 4] [--jobs 1000]

- lists: `--clients` clients each read GET /api/jobs (every job) at once, with
  the bytes and the time each took; then GET /api/jobs/{id}/logs?after=10 on a
  log of `--log-lines` lines.
- uploads: POST /api/uploads of a 6000x6000 RGBA PNG of a few hundred KB (issue
  24's case), of a 3072x3072 one that is all detail (the largest PNG accepted
  since), and of 12- and 48-megapixel JPEGs; then the third round's: JPEGs
  that libjpeg buffers whole however small the draft (progressive, CMYK, a
  scan per component) beside a baseline one of the same size, progressive
  ones within --max-image-memory, a PNG with 63 MiB of zTXt text
  (`--concurrent-text` at once), WebPs (3072x3072 flat, noisy, RGBA lossless
  and animated, and 2048x2048 ones near and over the memory cap), 31 MiB
  of metadata in a tiny PNG and WebP, and a /v1/videos create with an empty
  prompt and a progressive input_reference. Each alone, then `--concurrent` of
  them at once (each a different picture), on a fresh server for each kind;
  `--case WORD` runs the cases whose name has WORD.
- mp4: POST /api/media/settings with an MP4 of `--mib` MiB made of 8-byte boxes,
  then MP4s whose comment's `data` box is 8 to 16 bytes long (under 16, too
  short for its own type and locale) before `--media-mib` MiB of media, one
  with an emoji in it, and one whose `meta` box is too short for its version.
- ring: `--jobs` jobs with maximal prompts (10,000 astral emoji, in the prompt
  and the negative prompt) created, then deleted; RSS after, with no job and no
  event subscriber left.
- stalled: `--readers` clients that ask for GET /api/jobs?limit=1000 over jobs
  with maximal prompts and never read the answer (raw sockets with a small
  receive buffer).

Peak RSS is the kernel's high-water mark (VmHWM, reset before each step), or
sampled every 20 ms where that cannot be read.
"""

from __future__ import annotations

import argparse
import io
import socket
import struct
import statistics
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import psutil
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import PREVIEW, Server  # noqa: E402
from core import seed_jobs  # noqa: E402
from crafted_jpeg import jpeg  # noqa: E402

MAX_PROMPT_CHARS = 10_000
# An astral character: 4 bytes of UTF-8, 12 as a JSON \\ud83e\\udd8a escape pair.
WIDE = "\U0001f98a"


class PeakRss:
    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.pid = pid
        self.hwm_resettable = self._reset_hwm()
        self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _reset_hwm(self) -> bool:
        try:
            with open(f"/proc/{self.pid}/clear_refs", "w") as handle:
                handle.write("5")  # resets the process's peak RSS (Linux 4.0 on)
            return True
        except OSError:
            return False

    def _hwm(self) -> int:
        with open(f"/proc/{self.pid}/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        return 0

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.02)

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if self.hwm_resettable:
            self.peak = max(self.peak, self._hwm())


def rss(server: Server) -> int:
    assert server.proc is not None
    return psutil.Process(server.proc.pid).memory_info().rss


def mib(value: float) -> str:
    return f"{value / 2**20:.0f} MiB"


@contextmanager
def serving(args: list[str], seed: Callable[[Path], None] | None = None) -> Iterator[Server]:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        if seed is not None:
            seed(data)
        server = Server(data, args).start()
        try:
            time.sleep(1)
            yield server
        finally:
            server.terminate()


def measured(server: Server, what: str, step: Callable[[], str], settle_s: float = 1.0) -> None:
    """One line: RSS before the step, its peak during, and after (once settled)."""
    assert server.proc is not None
    before = rss(server)
    with PeakRss(server.proc.pid) as peak:
        said = step()
    time.sleep(settle_s)
    print(f"{what}: {said}; server RSS {mib(before)} before, peak {mib(peak.peak)} "
          f"(+{mib(peak.peak - before)}), after {mib(rss(server))} (+{mib(rss(server) - before)})", flush=True)


def in_threads(work: Callable[[int], object], count: int) -> list[object]:
    results: list[object] = [None] * count

    def run(index: int) -> None:
        results[index] = work(index)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


# -- lists: full job lists and whole logs -------------------------------------

def read_all(url: str, results: list[tuple[int, float]]) -> None:
    started = time.perf_counter()
    size = 0
    with httpx.stream("GET", url, timeout=600, headers={"Accept-Encoding": "identity"}) as response:
        for chunk in response.iter_raw():
            size += len(chunk)
    results.append((size, time.perf_counter() - started))


def concurrently(url: str, clients: int) -> list[tuple[int, float]]:
    results: list[tuple[int, float]] = []
    threads = [threading.Thread(target=read_all, args=(url, results)) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def lists(args: argparse.Namespace) -> None:
    with serving(args.server_args, lambda data: seed_jobs(data, args.jobs, args.prompt_chars)) as server:
        assert server.proc is not None
        idle = rss(server)
        with PeakRss(server.proc.pid) as peak:
            answers = concurrently(f"{server.url}/api/jobs", args.clients)
        print(f"{args.jobs} jobs with {args.prompt_chars}-character prompts; server RSS idle {mib(idle)}")
        print(f"{args.clients} concurrent GET /api/jobs (all): {mib(answers[0][0])} each (gzip off), "
              f"median {statistics.median(t for _, t in answers):.2f} s; server RSS peak {mib(peak.peak)}")
        job_id = server.client.get("/api/jobs", params={"limit": 1}).json()[0]["id"]
        with open(server.data_dir / "logs" / f"{job_id}.log", "a") as handle:
            for start in range(0, args.log_lines, 100_000):
                handle.writelines(f"[{i:07d}] a log line of ordinary length from a worker\n"
                                  for i in range(start, min(start + 100_000, args.log_lines)))
        before = rss(server)
        with PeakRss(server.proc.pid) as peak:
            logs = concurrently(f"{server.url}/api/jobs/{job_id}/logs?after=10", 1)
        print(f"GET /logs?after=10 on {args.log_lines} lines: {mib(logs[0][0])}, {logs[0][1]:.2f} s; "
              f"server RSS {mib(before)} before, peak {mib(peak.peak)}")


# -- uploads: decoding images --------------------------------------------------

def flat_png(side: int, variant: int) -> bytes:
    """Few colours in large shapes: a file of about 150 KB that decodes to side*side*4 bytes."""
    image = Image.new("RGBA", (side, side), (40, 90, 160, 255))
    draw = ImageDraw.Draw(image)
    for i in range(12):
        box = (i * side // 40, i * side // 50, side - i * side // 30, side - i * side // 25)
        draw.ellipse(box, fill=((i * 37 + variant) % 256, 120, 200 - i * 9, 255 - i * 5))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def detailed(width: int, height: int, block: int, mode: str, variant: int) -> np.ndarray:
    rng = np.random.default_rng(variant)
    channels = len(mode)
    small = rng.integers(0, 256, (height // block + 1, width // block + 1, channels), dtype=np.uint8)
    return np.repeat(np.repeat(small, block, axis=0), block, axis=1)[:height, :width]


def detailed_png(side: int, variant: int) -> bytes:
    """Random 4x4 blocks: a file of several MB, and a stored PNG about as large as an upload's gets."""
    out = io.BytesIO()
    Image.fromarray(detailed(side, side, 4, "RGBA", variant)).save(out, format="PNG", compress_level=9)
    return out.getvalue()


def big_jpeg(width: int, height: int, variant: int) -> bytes:
    out = io.BytesIO()
    Image.fromarray(detailed(width, height, 8, "RGB", variant)).save(out, format="JPEG", quality=85)
    return out.getvalue()


def post_image(server: Server, data: bytes, content_type: str) -> int:
    return httpx.post(f"{server.url}/api/uploads", content=data, headers={"Content-Type": content_type},
                      timeout=600).status_code


def post_video_with_reference(server: Server, data: bytes, content_type: str) -> int:
    """A /v1/videos create with an empty prompt: refused, with or without a decode first."""
    return httpx.post(f"{server.url}/v1/videos", data={"prompt": " ", "model": PREVIEW},
                      files={"input_reference": ("ref.jpg", data, content_type)}, timeout=600).status_code


def upload_case(args: argparse.Namespace, what: str, content_type: str, files: Callable[[int], bytes],
                concurrent: int | None = None, post: Callable[[Server, bytes, str], int] = post_image) -> None:
    if args.case and args.case.lower() not in what.lower():
        return
    count = args.concurrent if concurrent is None else concurrent
    pictures = [files(i) for i in range(count + 1)]  # each a different picture: no two uploads are one file
    small = io.BytesIO()
    Image.new("RGB", (64, 64)).save(small, format="PNG")
    print(f"{what}: {len(pictures[0]) // 1024} KB a file", flush=True)
    with serving(args.server_args) as server:  # a fresh one: what the case before kept is not counted
        post_image(server, small.getvalue(), "image/png")  # Pillow's import is no cost of the case
        measured(server, "  one alone", lambda: f"status {post(server, pictures[0], content_type)}")
        measured(server, f"  {count} at once", lambda: "statuses " + " ".join(
            str(code) for code in in_threads(lambda i: post(server, pictures[i + 1], content_type), count)))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def text_png(variant: int, chunks: int = 63) -> bytes:
    """A 1000x1000 PNG of one colour with `chunks` zTXt chunks, each 1 MiB of text
    compressed to about a kilobyte (the attacker's imgs.ztxt_png)."""
    out = io.BytesIO()
    Image.new("RGB", (1000 + variant, 1000), (1, 2, 3)).save(out, format="PNG")
    png = out.getvalue()
    text = zlib.compress(b"A" * (2**20 - 64), 9)
    extra = b"".join(_chunk(b"zTXt", f"k{i}".encode() + b"\0\0" + text) for i in range(chunks))
    return png[:33] + extra + png[33:]  # after the IHDR


def webp(image: Image.Image, **save: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format="WEBP", **save)
    return out.getvalue()


def animated_webp(side: int, variant: int, frames: int = 10) -> bytes:
    pictures = [Image.new("RGB", (side, side), ((i * 20 + variant) % 256, 90, 160)) for i in range(frames)]
    return webp(pictures[0], save_all=True, append_images=pictures[1:])


def with_metadata(kind: str, variant: int, size: int = 31 * 2**20) -> bytes:
    """A 64x64 picture carrying `size` bytes of metadata: a PNG's eXIf chunk, a WebP's XMP."""
    blob = np.random.default_rng(variant).integers(0, 256, size, dtype=np.uint8).tobytes()
    out = io.BytesIO()
    picture = Image.new("RGB", (64, 64), (variant, 2, 3))
    if kind == "WEBP":
        picture.save(out, format="WEBP", xmp=blob)
        return out.getvalue()
    picture.save(out, format="PNG")
    png = out.getvalue()
    return png[:33] + _chunk(b"eXIf", b"MM\0*" + blob[4:]) + png[33:]


def uploads(args: argparse.Namespace) -> None:
    upload_case(args, "6000x6000 RGBA PNG, flat", "image/png", lambda i: flat_png(6000, i))
    upload_case(args, "3072x3072 RGBA PNG, detailed", "image/png", lambda i: detailed_png(3072, i))
    upload_case(args, "4032x3024 JPEG (12 MP)", "image/jpeg", lambda i: big_jpeg(4032, 3024, i))
    upload_case(args, "8064x6048 JPEG (48 MP)", "image/jpeg", lambda i: big_jpeg(8064, 6048, i))
    # JPEGs whose every coefficient libjpeg keeps whatever the draft scale (tests/crafted_jpeg.py).
    yuv420, cmyk = ((2, 2), (1, 1), (1, 1)), ((1, 1),) * 4
    upload_case(args, "13000x13000 baseline JPEG, 4:2:0", "image/jpeg",
                lambda i: jpeg(13000 + i, 13000, yuv420))
    upload_case(args, "13000x13000 progressive JPEG, 4:2:0", "image/jpeg",
                lambda i: jpeg(13000 + i, 13000, yuv420, progressive=True))
    upload_case(args, "13300x13300 progressive JPEG, CMYK", "image/jpeg",
                lambda i: jpeg(13300 + i, 13300, cmyk, progressive=True))
    upload_case(args, "13000x13000 baseline JPEG, 4:2:0, a scan per component", "image/jpeg",
                lambda i: jpeg(13000 + i, 13000, yuv420, interleaved=False))
    upload_case(args, "4032x3024 progressive JPEG, 4:2:0 (12 MP)", "image/jpeg",
                lambda i: jpeg(4032 + i, 3024, yuv420, progressive=True))
    upload_case(args, "3840x2880 progressive JPEG, 4:4:4 (near --max-image-memory)", "image/jpeg",
                lambda i: jpeg(3840 + i, 2880, ((1, 1),) * 3, progressive=True))
    upload_case(args, "1000x1000 PNG with 63 MiB of zTXt text", "image/png", text_png, args.concurrent_text)
    upload_case(args, "3072x3072 WebP, flat", "image/webp",
                lambda i: webp(Image.new("RGB", (3072, 3072), (40, 90, 160 + i))))
    upload_case(args, "3072x3072 WebP, noisy", "image/webp",
                lambda i: webp(Image.fromarray(detailed(3072, 3072, 1, "RGB", i)), quality=80, method=0))
    upload_case(args, "3072x3072 RGBA WebP, lossless", "image/webp",
                lambda i: webp(Image.fromarray(detailed(3072, 3072, 4, "RGBA", i)), lossless=True, method=0))
    upload_case(args, "3072x3072 WebP, animated, 10 frames", "image/webp", lambda i: animated_webp(3072, i))
    upload_case(args, "2048x2048 WebP, noisy (near --max-image-memory)", "image/webp",
                lambda i: webp(Image.fromarray(detailed(2048, 2048, 1, "RGB", i)), quality=80, method=0))
    upload_case(args, "2048x2048 RGBA WebP, lossless, all detail", "image/webp",
                lambda i: webp(Image.fromarray(detailed(2048, 2048, 1, "RGBA", i)), lossless=True, method=0))
    upload_case(args, "64x64 PNG with a 31 MiB eXIf chunk", "image/png", lambda i: with_metadata("PNG", i))
    upload_case(args, "64x64 WebP with a 31 MiB XMP chunk", "image/webp", lambda i: with_metadata("WEBP", i))
    upload_case(args, "/v1/videos, empty prompt, 13000x13000 progressive input_reference", "image/jpeg",
                lambda i: jpeg(13000 + i, 13000, yuv420, progressive=True), post=post_video_with_reference)


# -- mp4: the settings reader ---------------------------------------------------

def tiny_boxes_mp4(size: int) -> bytes:
    ftyp = b"\0\0\0\x10ftypisom\0\0\2\0"
    return ftyp + b"\0\0\0\x08free" * ((size - len(ftyp)) // 8)


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def short_box_mp4(media_mib: int, data_size: int | None = None, emoji: bool = False) -> bytes:
    """An MP4 whose comment's `data` box says it is `data_size` bytes long (the
    attacker's mp4bomb.py), or, without one, whose `meta` box is too short for
    its version and flags; then `media_mib` MiB of media."""
    if data_size is None:
        meta = _box(b"meta", b"")
    else:
        data = struct.pack(">I4s", data_size, b"data") + b"\0" * (data_size - 8)
        meta = _box(b"meta", b"\0\0\0\0" + _box(b"ilst", _box(b"\xa9cmt", data)))
    media = ("\U0001f600".encode() if emoji else b"") + b"A" * (media_mib * 2**20)
    return (_box(b"ftyp", b"isom\0\0\2\0isomiso2") + _box(b"moov", _box(b"udta", meta))
            + struct.pack(">I4s", 8 + len(media), b"mdat") + media)


def post_mp4(server: Server, data: bytes) -> str:
    started = time.perf_counter()
    answer = httpx.post(f"{server.url}/api/media/settings", content=data,
                        headers={"Content-Type": "video/mp4"}, timeout=600)
    return f"status {answer.status_code} in {time.perf_counter() - started:.1f} s"


def mp4(args: argparse.Namespace) -> None:
    data = tiny_boxes_mp4(args.mib * 2**20)
    with serving(args.server_args) as server:
        measured(server, f"POST /api/media/settings, {args.mib} MiB of 8-byte boxes", lambda: post_mp4(server, data))
    cases = [(f"a {size}-byte data box", size, False) for size in range(8, 17)]
    cases.append(("a 15-byte data box and an emoji", 15, True))
    cases.append(("an 8-byte meta box", None, False))
    for what, size, emoji in cases:
        file = short_box_mp4(args.media_mib, size, emoji)
        with serving(args.server_args) as server:
            measured(server, f"POST /api/media/settings, {what} before {args.media_mib} MiB of media",
                     lambda: post_mp4(server, file))  # noqa: B023 - called before the loop moves on


# -- ring: events of deleted jobs ----------------------------------------------

def maximal(index: int) -> str:
    return (f"{index} " + WIDE * MAX_PROMPT_CHARS)[:MAX_PROMPT_CHARS]


def ring(args: argparse.Namespace) -> None:
    with serving(args.server_args) as server:
        ids: list[str] = []
        lock = threading.Lock()
        per_thread = 4

        def create(part: int) -> None:
            with httpx.Client(base_url=server.url, timeout=60) as client:
                for index in range(part, args.jobs, per_thread):
                    answer = client.post("/api/jobs", json={"model_id": PREVIEW, "prompt": maximal(index),
                                                            "negative_prompt": maximal(index)})
                    answer.raise_for_status()
                    with lock:
                        ids.append(answer.json()["id"])

        def delete(part: int) -> None:
            with httpx.Client(base_url=server.url, timeout=60) as client:
                for job_id in ids[part::per_thread]:
                    client.delete(f"/api/jobs/{job_id}").raise_for_status()

        def create_and_delete() -> str:
            in_threads(create, per_thread)
            in_threads(delete, per_thread)
            left = server.client.get("/api/jobs").json()
            return f"{len(ids)} created, {len(left)} left, {server.health()['event_subscribers']} subscribers"
        measured(server, f"{args.jobs} jobs with maximal prompts created, then deleted", create_and_delete,
                 settle_s=2.0)


# -- stalled: readers that never read ------------------------------------------

def stalled(args: argparse.Namespace) -> None:
    def seed(data: Path) -> None:
        seed_jobs(data, args.jobs, MAX_PROMPT_CHARS, filler=WIDE, negative_prompts=True)

    with serving(args.server_args, seed) as server:
        sockets: list[socket.socket] = []

        def stall() -> str:
            for _ in range(args.readers):
                sock = socket.socket()
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: the window stays small
                sock.connect(("127.0.0.1", server.port))
                sock.sendall(b"GET /api/jobs?limit=1000 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                             b"Accept-Encoding: identity\r\n\r\n")
                sockets.append(sock)
            # Until the server has written what it will: RSS steady for 2 s (at most 60 s).
            last, steady_since, deadline = rss(server), time.monotonic(), time.monotonic() + 60
            while time.monotonic() - steady_since < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
                now = rss(server)
                if abs(now - last) > 2**20:
                    last, steady_since = now, time.monotonic()
            held = rss(server)
            for sock in sockets:
                sock.close()
            return f"{mib(held)} while stalled"
        measured(server, f"{args.readers} stalled readers of GET /api/jobs?limit=1000 over {args.jobs} jobs "
                         f"with maximal prompts", stall, settle_s=3.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server-arg", dest="server_args", action="append", default=[], metavar="ARG",
                        help="pass this to the server (repeatable), e.g. --server-arg=--max-image-decodes=1")
    scenarios = parser.add_subparsers(dest="scenario")
    listed = scenarios.add_parser("lists", help="full job lists and whole logs (the default)")
    listed.add_argument("--jobs", type=int, default=100_000)
    listed.add_argument("--prompt-chars", type=int, default=2000)
    listed.add_argument("--clients", type=int, default=4)
    listed.add_argument("--log-lines", type=int, default=1_000_000)
    upload = scenarios.add_parser("uploads", help="decoding uploaded images")
    upload.add_argument("--concurrent", type=int, default=4)
    upload.add_argument("--concurrent-text", type=int, default=20, help="PNGs with 63 MiB of text sent at once")
    upload.add_argument("--case", help="only the cases whose name has this word")
    reader = scenarios.add_parser("mp4", help="the MP4 settings reader")
    reader.add_argument("--mib", type=int, default=32)
    reader.add_argument("--media-mib", type=int, default=200, help="media after the short boxes")
    scenarios.add_parser("ring", help="the event replay ring").add_argument("--jobs", type=int, default=3000)
    stall = scenarios.add_parser("stalled", help="readers that never read")
    stall.add_argument("--readers", type=int, default=4)
    stall.add_argument("--jobs", type=int, default=1000)
    args = parser.parse_args()
    if args.scenario is None:
        args = parser.parse_args([*sys.argv[1:], "lists"])
    {"lists": lists, "uploads": uploads, "mp4": mp4, "ring": ring, "stalled": stalled}[args.scenario](args)


if __name__ == "__main__":
    main()
