"""Writing browser-playable MP4 and JPEG files with PyAV (FFmpeg)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

import av
import numpy as np


def _x264_without_avx512() -> dict[str, str]:
    """x264 options that keep its output a function of its input alone.

    x264's AVX-512 routines make the same frames encode to different bytes from
    run to run (measured here: 18 distinct files from 100 encodes of one clip;
    with AVX2 as the ceiling, 1, at the same speed). x264 takes the CPU's
    features as given once told, so the ceiling is set only where AVX-512, and
    so AVX2 and everything below it, is known to be present.
    """
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), [])
    return {"x264-params": "asm=AVX2"} if "avx512f" in flags else {}


_X264_DETERMINISTIC = _x264_without_avx512()


def write_mp4(
    path: Path,
    frames: Iterable[np.ndarray],
    width: int,
    height: int,
    fps: int,
    on_frame: Callable[[int], None] | None = None,
) -> None:
    """H.264 yuv420p with the index up front (faststart), so it streams in a browser.

    Frames are RGB uint8 arrays of any size; swscale resizes them to width x height.
    The file is written beside `path` and renamed into place when complete.
    """
    partial = path.with_name(path.name + ".part")
    container = av.open(str(partial), mode="w", format="mp4", options={"movflags": "+faststart"})
    try:
        stream = container.add_stream("libx264", rate=fps)
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "20", "preset": "veryfast", **_X264_DETERMINISTIC}
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame = frame.reformat(width=width, height=height, format="yuv420p", interpolation="BICUBIC")
            for packet in stream.encode(frame):
                container.mux(packet)
            if on_frame is not None:
                on_frame(index)
        for packet in stream.encode():
            container.mux(packet)
    except BaseException:
        _discard(container, partial)
        raise
    _close_into_place(container, partial, path)


def tag_mp4(path: Path, tags: dict[str, str], poster: Path | None = None) -> str | None:
    """Set container tags on an MP4, copying its streams as they are (no
    re-encode) into a file that replaces it. With `poster`, the JPEG of its
    middle frame too, decoded from the packets on their way through: one read
    of the file for both. Returns why there is no poster (None: written, or
    not asked for); a tag that cannot be written raises."""
    partial = path.with_name(path.name + ".tagged.part")
    middle: av.VideoFrame | None = None
    no_poster: str | None = None
    with av.open(str(path)) as source:
        picture = _PosterSource(source) if poster is not None else None
        target = av.open(str(partial), mode="w", format="mp4", options={"movflags": "+faststart"})
        try:
            target.metadata.update({key: value for key, value in source.metadata.items()
                                    if key not in ("major_brand", "minor_version", "compatible_brands")})
            target.metadata.update(tags)
            # Every stream, audio and subtitles too (LTX-2's videos carry sound): one the MP4 muxer
            # cannot take raises, and the caller keeps the file as it was, untagged but whole.
            streams = {stream.index: target.add_stream_from_template(stream) for stream in source.streams}
            for packet in source.demux(*[source.streams[index] for index in streams]):
                if packet.dts is None:  # the demuxer's flush packet
                    continue
                if picture is not None:
                    picture.take(packet)
                packet.stream = streams[packet.stream.index]
                target.mux(packet)
            if picture is not None:
                middle, no_poster = picture.finish()
        except BaseException:
            _discard(target, partial)
            raise
    _close_into_place(target, partial, path)
    if poster is not None and middle is not None:
        try:
            _write_poster(poster, middle)
        except Exception as exc:  # noqa: BLE001 - the video is whole and tagged without it
            no_poster = str(exc)
    return no_poster


def _write_poster(poster: Path, frame: "av.VideoFrame") -> None:
    write_jpeg(poster, frame.to_ndarray(format="rgb24"), frame.width, frame.height)


class _PosterSource:
    """Decodes a video stream's packets as they pass, up to its middle frame.
    Frame threads only pay off on frames of some size: on a thumbnail-sized
    video, starting them cost more than the decode."""

    def __init__(self, source: "av.container.InputContainer") -> None:
        self.stream = source.streams.video[0] if source.streams.video else None
        self.middle: av.VideoFrame | None = None
        self.last: av.VideoFrame | None = None  # the middle, where the stream has fewer frames than it says
        self.decoded = 0
        self.error: str | None = None if self.stream is not None else "the file has no video stream"
        if self.stream is not None:
            self.wanted = (self.stream.frames or 1) // 2
            large = (self.stream.width or 0) * (self.stream.height or 0) > 640 * 360
            self.stream.thread_type = "AUTO" if large else "NONE"

    def take(self, packet: "av.Packet") -> None:
        if self.middle is not None or self.error is not None or packet.stream is not self.stream:
            return
        try:
            self._keep(packet.decode())
        except Exception as exc:  # noqa: BLE001 - a poster that cannot be made leaves the tag be
            self.error = str(exc)

    def _keep(self, frames: Iterable["av.VideoFrame"]) -> None:
        for frame in frames:
            if self.middle is None and self.decoded >= self.wanted:
                self.middle = frame
            self.last = frame
            self.decoded += 1

    def finish(self) -> tuple["av.VideoFrame | None", str | None]:
        if self.middle is None and self.error is None and self.stream is not None:
            try:
                self._keep(self.stream.codec_context.decode(None))  # what frame threads still hold
            except Exception as exc:  # noqa: BLE001
                self.error = str(exc)
        if self.middle is None and self.error is None:
            self.middle = self.last
            if self.last is None:
                self.error = "the video has no frames"
        return self.middle, self.error


def _close_into_place(container: "av.container.OutputContainer", partial: Path, path: Path) -> None:
    """Finish a write (closing writes the index: it can still fail on a full
    disk) and move the file into place; on failure, remove it."""
    try:
        container.close()
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)


def _discard(container: "av.container.OutputContainer", partial: Path) -> None:
    """Close a failed write (closing may fail too, e.g. with no space) and remove the file."""
    try:
        container.close()
    except Exception:  # noqa: BLE001 - the first error is the one to report
        pass
    finally:
        partial.unlink(missing_ok=True)


def write_jpeg(path: Path, rgb: np.ndarray, width: int, height: int) -> None:
    partial = path.with_name(path.name + ".part")
    container = av.open(str(partial), mode="w", format="image2")
    try:
        stream = container.add_stream("mjpeg")
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuvj420p"
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame = frame.reformat(width=width, height=height, format="yuvj420p", interpolation="BICUBIC")
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    except BaseException:
        _discard(container, partial)
        raise
    _close_into_place(container, partial, path)


def poster_from_video(video: Path, poster: Path) -> None:
    """A JPEG of the middle frame of `video`, where no tagging pass draws it (tag_mp4)."""
    with av.open(str(video)) as container:
        picture = _PosterSource(container)
        if picture.stream is not None:
            for packet in container.demux(picture.stream):
                if packet.dts is not None:  # not the demuxer's flush packet
                    picture.take(packet)
                if picture.middle is not None or picture.error is not None:
                    break
        middle, why = picture.finish()
    if middle is None:
        raise ValueError(f"{video}: {why}")
    _write_poster(poster, middle)
