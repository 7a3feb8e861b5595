"""Images uploaded for image-to-video jobs, stored by content.

An upload is decoded with Pillow, checked (type, size in pixels), turned
upright by its EXIF orientation, brought within MAX_SIDE pixels a side, and
saved again as a PNG with no metadata (EXIF, GPS and all): the file kept is
`<sha256 of that PNG>.png`, and the hash is the upload's id. The same picture
uploaded twice is one file. An upload is deleted when the last job that refers
to it is.

Memory is the cost to watch: a PNG of a few hundred KB can decode to hundreds of
MB. So the headers are checked before any pixel is decoded (the metadata a file
carries, its size in pixels, and what decoding it will take), a JPEG is decoded
at a reduced scale where it is larger than any model needs, the decoded picture
is converted and reduced in bands of rows instead of whole copies, and the heap
is handed back to the system afterwards. Callers bound how many images are
opened and decoded at once (UploadStore.decode_slots, --max-image-decodes).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import hashlib
import io
import math
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .image_headers import WEBP_BYTES_A_PIXEL, Headers, jpeg_coefficient_bytes, read_headers, webp_decode_bytes

if TYPE_CHECKING:
    from PIL import Image as PILImage

MAX_UPLOAD_BYTES = 32 * 1024 * 1024
# Pixels decoded at once. Pillow holds 4 bytes a pixel for RGB and RGBA alike,
# so this is 36 MiB, the bulk of an upload's peak memory (the goal is under
# 100 MB). A PNG or WebP is decoded whole, so this caps its size (4K UHD
# passes). A JPEG is decoded at 1/2, 1/4 or 1/8 scale where its longer side
# stays at least JPEG_SCALED_SIDE, which brings every JPEG within this cap (up to
# Pillow's own decompression-bomb limit): a 12- or a 48-megapixel photo is
# decoded at 2016x1512.
MAX_PIXELS = 3072 * 3072
# The longest side any model renders (jobs/catalogue.py: 2048 for the preview
# renderer and models FastVideo adds, 1280 for the built-in FastVideo ones). A
# job resizes its image to its own width and height, so more is never used.
MAX_SIDE = 2048
JPEG_SCALED_SIDE = 1536
# The memory one upload may take while it is decoded, estimated from its
# headers before a pixel is (--max-image-memory). What is counted is what
# bench/memory.py measured: the file, held throughout; 4 bytes a decoded
# pixel; for a progressive or multi-scan JPEG, 2 bytes for every coefficient
# of the full-size picture, which libjpeg keeps whatever the scale it decodes
# at (a 13000x13000 one cost +496 MiB, a baseline one +13); for a WebP, 16
# bytes a pixel (libwebp's animation decoder, which Pillow uses for every
# WebP, keeps two canvases and hands Pillow a third) and the file twice more
# (copied as it is opened, and kept by the decoder). Peaks come within a few
# MiB of the estimate; the goal is under 100 MB an upload. A PNG or a baseline
# JPEG within MAX_PIXELS always fits the default.
MAX_IMAGE_MEMORY = 80 * 2**20
# Metadata one upload may carry (text, EXIF, XMP, ICC profiles, thumbnails,
# unknown chunks; --max-image-metadata), and the most of a PNG's text Pillow
# decompresses. Pillow keeps it all while the picture is read, and we store
# none of it: a photo's is tens of KB; 31 MiB of it in a 64x64 PNG or WebP
# cost +125 MiB, and 63 MiB of zTXt in a 70 KB PNG +68 MiB.
MAX_IMAGE_METADATA = 4 * 2**20
_PILLOW_TEXT_CHUNK = 1024 * 1024  # Pillow's own cap on one decompressed text chunk or ICC profile
MIN_SIDE = 16
BAND_ROWS = 32  # output rows converted and resized at a time: a band's scratch is a few MB
FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
UNREFERENCED_GRACE_S = 24 * 3600  # an upload no job has used yet is kept this long
_ID = re.compile(r"^[0-9a-f]{64}$")
_CAP = f"{MAX_PIXELS / 1e6:.1f} million pixels ({math.isqrt(MAX_PIXELS)}x{math.isqrt(MAX_PIXELS)})"


@dataclass(frozen=True)
class ImageLimits:
    memory: int = MAX_IMAGE_MEMORY  # --max-image-memory
    metadata: int = MAX_IMAGE_METADATA  # --max-image-metadata


def _mib(size: float) -> str:
    return f"{size / 2**20:.0f} MiB" if size >= 2**20 else f"{size / 1024:.0f} KiB"


class UploadRefused(Exception):
    """415 (not an image of an accepted type) or 422 (a broken or out-of-bounds image)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Upload:
    id: str
    width: int
    height: int
    bytes: int
    source_format: str

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "width": self.width, "height": self.height, "bytes": self.bytes,
                "source_format": self.source_format, "url": f"/api/uploads/{self.id}"}


def is_upload_id(text: str) -> bool:
    return bool(_ID.match(text))


def fitted(width: int, height: int, side: int = MAX_SIDE) -> tuple[int, int]:
    """(width, height) scaled down to fit within side x side, or as it is when it does."""
    scale = side / max(width, height)
    if scale >= 1:
        return width, height
    return max(1, round(width * scale)), max(1, round(height * scale))


def jpeg_scale(width: int, height: int) -> int:
    """The reduction a JPEG is decoded at: the largest of 8, 4 and 2 that leaves
    its longer side at least JPEG_SCALED_SIDE, else 1."""
    return next((scale for scale in (8, 4, 2) if max(width, height) / scale >= JPEG_SCALED_SIDE), 1)


def open_image(data: bytes, limits: ImageLimits = ImageLimits()) -> "PILImage.Image":
    """The image, its headers read and checked, not a pixel of it decoded yet:
    refused (UploadRefused) here when its type, size, metadata or the memory
    decoding it would take is out of bounds."""
    from PIL import Image, PngImagePlugin, UnidentifiedImageError  # imported on the first upload only

    headers = read_headers(data)
    if headers.metadata > limits.metadata:
        raise UploadRefused(422, f"the image carries {_mib(headers.metadata)} of metadata (text, EXIF, XMP, ICC "
                                 f"profile, other chunks): over the {_mib(limits.metadata)} this server reads "
                                 f"(--max-image-metadata). It keeps none of it: save the picture without")
    if headers.canvas is not None:  # a WebP: Pillow copies it whole as it opens it, so check it first
        _check_memory(limits, "WEBP", headers.canvas, webp_decode_bytes(len(data), headers.canvas))
    # Pillow decompresses a PNG's text as it reads the header, 64 MiB of it by
    # default. Module settings: set for every open, from this store's limits.
    PngImagePlugin.MAX_TEXT_MEMORY = limits.metadata
    PngImagePlugin.MAX_TEXT_CHUNK = min(limits.metadata, _PILLOW_TEXT_CHUNK)
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise UploadRefused(415, "not an image this server reads; send PNG, JPEG or WebP") from None
    except Image.DecompressionBombError:  # Pillow's own guard, for headers far past ours
        raise UploadRefused(422, f"the image is far over the {_CAP} this server decodes") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise UploadRefused(422, _unreadable("read", exc)) from None
    if image.format not in FORMATS:
        raise UploadRefused(415, f"{image.format} images are not accepted; send PNG, JPEG or WebP")
    width, height = image.size
    if min(width, height) < MIN_SIDE:
        raise UploadRefused(422, f"the image is {width}x{height}: each side must be at least {MIN_SIDE} pixels")
    coefficients, layout = _buffered_coefficients(image, headers)  # of the full-size picture: before the draft
    scale = jpeg_scale(width, height) if image.format == "JPEG" else 1
    if scale > 1:
        # Pillow picks the largest scale that leaves at least the size asked for: this one.
        image.draft(image.mode, (width // scale, height // scale))
    if image.size[0] * image.size[1] > MAX_PIXELS:
        how = "even at 1/8 scale, the most a JPEG is reduced while decoded" if image.format == "JPEG" else (
            f"a {image.format} is decoded whole; send a smaller one, or a JPEG")
        raise UploadRefused(422, f"the image is {width}x{height}: over the {_CAP} this server decodes ({how})")
    if image.format == "WEBP":
        cost = webp_decode_bytes(len(data), image.size)
    else:
        cost = len(data) + 4 * image.size[0] * image.size[1] + coefficients
    _check_memory(limits, "WEBP" if image.format == "WEBP" else layout, (width, height), cost)
    return image


def _buffered_coefficients(image: "PILImage.Image", headers: Headers) -> tuple[int, str]:
    """The bytes libjpeg keeps for a JPEG it must buffer whole, and why it
    must: it is progressive, or its first scan has fewer components than its
    frame (a scan per component). (0, "") for any other image: libjpeg then
    decodes a band of rows at a time, at the draft's scale."""
    if image.format != "JPEG":
        return 0, ""
    layers = getattr(image, "layers", 0)
    if image.info.get("progressive") or image.info.get("progression"):
        layout = "a progressive JPEG"
    elif headers.first_scan_components is not None and headers.first_scan_components < layers:
        layout = "a JPEG with a scan per component"
    else:
        return 0, ""
    sampling = [(horizontal, vertical) for _, horizontal, vertical, _ in getattr(image, "layer", [])]
    return jpeg_coefficient_bytes(image.size, sampling), layout


def _check_memory(limits: ImageLimits, kind: str, size: tuple[int, int], cost: int) -> None:
    """Refuse an image whose decode would cost more than the limit, saying why:
    `kind` is WEBP, a buffered JPEG's layout, or "" for any other image."""
    if cost <= limits.memory:
        return
    width, height = size
    over = f"about {_mib(cost)}, over the {_mib(limits.memory)} an upload may take here (--max-image-memory)"
    if kind == "WEBP":
        raise UploadRefused(422, f"the image is {width}x{height}: a WebP takes {WEBP_BYTES_A_PIXEL} bytes a pixel "
                                 f"to decode, with its file held twice more: {over}; send it as PNG or JPEG")
    if kind:
        raise UploadRefused(422, f"the image is {width}x{height}, {kind}: libjpeg keeps every coefficient of it, "
                                 f"2 bytes each, whatever the scale it decodes at, so it would take {over}. A "
                                 f"baseline JPEG of the same size is decoded reduced and fits: save it as one")
    raise UploadRefused(422, f"the image is {width}x{height}: decoding it would take {over}")


def _unreadable(doing: str, exc: Exception) -> str:
    from PIL import PngImagePlugin

    # Pillow's words for the caps open_image sets: on one chunk, and on all of them.
    if "MAX_TEXT_CHUNK" in str(exc):
        return (f"one of the PNG's text chunks, or its ICC profile, decompresses to more than the "
                f"{_mib(PngImagePlugin.MAX_TEXT_CHUNK)} this server reads of one. It keeps none of them: save the "
                f"picture without")
    if "text chunk" in str(exc):
        return (f"the PNG's text, decompressed, is over the {_mib(PngImagePlugin.MAX_TEXT_MEMORY)} this server "
                f"reads (--max-image-metadata). It keeps none of it: save the picture without")
    return f"the image cannot be {doing}: {exc}"


# EXIF's orientation values, as the transposition that makes the picture upright
# (the table ImageOps.exif_transpose uses; applied here to the reduced picture,
# where exif_transpose would copy the full-size one).
def _upright(orientation: object) -> "PILImage.Transpose | None":
    from PIL import Image

    turns: dict[object, Image.Transpose] = {
        2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90}
    return turns.get(orientation)


def _rgb_fitted(image: "PILImage.Image") -> "PILImage.Image":
    """`image` as RGB within MAX_SIDE, made band by band: the only full-size
    copy is the decoded picture itself. Each band is cropped with a margin of
    rows, so the Lanczos filter sees what it would see in the whole picture
    and the result is the same as one resize."""
    from PIL import Image

    width, height = image.size
    size = fitted(width, height)
    if size == image.size and image.mode == "RGB":
        return image
    if size == image.size:
        return image.convert("RGB")  # within MAX_SIDE: this copy is at most 16 MiB
    out = Image.new("RGB", size)
    rows_per_row = height / size[1]
    margin = math.ceil(3 * rows_per_row) + 2  # Lanczos reads 3 output pixels' worth of input either side
    for top in range(0, size[1], BAND_ROWS):
        bottom = min(size[1], top + BAND_ROWS)
        y0, y1 = top * rows_per_row, bottom * rows_per_row
        first, last = max(0, math.floor(y0) - margin), min(height, math.ceil(y1) + margin)
        band = image.crop((0, first, width, last))
        if band.mode != "RGB":
            band = band.convert("RGB")
        out.paste(band.resize((size[0], bottom - top), Image.Resampling.LANCZOS,
                              box=(0, y0 - first, width, y1 - first)), (0, top))
    return out


def normalize(image: "PILImage.Image") -> tuple[bytes, int, int, str]:
    """An opened image (open_image) as a clean, upright RGB PNG within MAX_SIDE,
    its size, and the format it came in. This is the decode: its caller holds a
    decode slot."""
    from PIL import Image

    source = str(image.format)
    try:
        image.load()
        orientation = image.getexif().get(0x0112)  # read once the pixels are in: a PNG's may follow them
        rgb = _rgb_fitted(image)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        image.close()
        raise UploadRefused(422, _unreadable("decoded", exc)) from None
    if rgb is not image:
        image.close()  # the full-size picture goes now, not when the request does
    method = _upright(orientation)
    if method is not None:
        rgb = rgb.transpose(method)
    out = io.BytesIO()
    rgb.save(out, format="PNG", optimize=False)  # no exif, no text chunks: nothing but pixels
    return out.getvalue(), rgb.width, rgb.height, source


def normalize_image(data: bytes) -> tuple[bytes, int, int, str]:
    """The image as a clean, upright RGB PNG within MAX_SIDE, its size, and the format it came in."""
    return normalize(open_image(data))


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl has none): nothing to do
        return None


def give_back_memory() -> None:
    """Hand freed heap memory back to the system. Pillow allocates pictures in
    16 MiB blocks with malloc, and glibc keeps what is freed in its arenas: four
    6000x6000 uploads left 1.4 GB resident after they were done."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


class UploadStore:
    def __init__(self, directory: Path, max_decodes: int = 2, limits: ImageLimits = ImageLimits()) -> None:
        self.directory = directory
        self.limits = limits
        # Held by the API around each save, from the first header read to the
        # last pixel (--max-image-decodes): N uploads at once cost at most this
        # many opened or decoded pictures, and waiting costs no thread.
        self.decode_slots = asyncio.Semaphore(max_decodes)

    def path(self, upload_id: str) -> Path:
        if not is_upload_id(upload_id):
            raise ValueError("not an upload id")
        return self.directory / f"{upload_id}.png"

    def exists(self, upload_id: str) -> bool:
        return is_upload_id(upload_id) and self.path(upload_id).is_file()

    def save(self, data: bytes) -> Upload:
        """An image, checked, decoded and stored (the caller holds a decode slot)."""
        try:
            png, width, height, source = normalize(open_image(data, self.limits))
        finally:
            give_back_memory()
        upload_id = hashlib.sha256(png).hexdigest()
        target = self.path(upload_id)
        if not target.exists():
            self.directory.mkdir(parents=True, exist_ok=True)
            # A name of its own per save: two saves of one picture at once each
            # rename their own file into place (the same bytes, atomically).
            fd, partial = tempfile.mkstemp(dir=self.directory, prefix=f".{upload_id}.", suffix=".part")
            try:
                os.fchmod(fd, 0o644)  # as the server's other files; mkstemp makes 0600
                with os.fdopen(fd, "wb") as handle:
                    handle.write(png)
                os.replace(partial, target)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(partial)
                raise
        else:
            os.utime(target)  # uploaded again: its grace period starts again
        return Upload(upload_id, width, height, len(png), source)

    def save_last_frame(self, video: Path) -> Upload:
        """The last frame of a video this server made, as an upload (to continue from it)."""
        import av  # imported when asked only: the server otherwise never decodes video

        last = None
        with av.open(str(video)) as container:
            for frame in container.decode(video=0):
                last = frame
        if last is None:
            raise UploadRefused(422, "the video has no frames")
        out = io.BytesIO()
        last.to_image().save(out, format="PNG")
        return self.save(out.getvalue())

    def remove_if_unused(self, upload_id: str, in_use: bool) -> bool:
        if in_use or not is_upload_id(upload_id):
            return False
        self.path(upload_id).unlink(missing_ok=True)
        return True

    def sweep(self, referenced: set[str], now: float | None = None) -> int:
        """Remove uploads no job refers to, once past their grace period."""
        now = time.time() if now is None else now
        removed = 0
        for path in self.directory.glob("*.png"):
            upload_id = path.stem
            if upload_id in referenced or not is_upload_id(upload_id):
                continue
            try:
                if now - path.stat().st_mtime > UNREFERENCED_GRACE_S:
                    path.unlink()
                    removed += 1
            except OSError:
                continue
        return removed
