"""Images uploaded for image-to-video jobs, stored by content.

An upload is decoded with Pillow, checked (type, size in pixels), turned
upright by its EXIF orientation, and saved again as a PNG with no metadata
(EXIF, GPS and all): the file kept is `<sha256 of that PNG>.png`, and the hash
is the upload's id. The same picture uploaded twice is one file. An upload is
deleted when the last job that refers to it is.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

MAX_UPLOAD_BYTES = 32 * 1024 * 1024
MAX_PIXELS = 40_000_000  # 8K is 33 million
MIN_SIDE = 16
FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
UNREFERENCED_GRACE_S = 24 * 3600  # an upload no job has used yet is kept this long
_ID = re.compile(r"^[0-9a-f]{64}$")


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


def normalize_image(data: bytes) -> tuple[bytes, int, int, str]:
    """The image as a clean, upright RGB PNG, its size, and the format it came in."""
    from PIL import Image, ImageOps, UnidentifiedImageError  # imported on the first upload only

    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise UploadRefused(415, "not an image this server reads; send PNG, JPEG or WebP") from None
    except Image.DecompressionBombError:  # Pillow's own guard, for headers far past ours
        raise UploadRefused(422, f"the image is over {MAX_PIXELS // 1_000_000} million pixels") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise UploadRefused(422, f"the image cannot be read: {exc}") from None
    if image.format not in FORMATS:
        raise UploadRefused(415, f"{image.format} images are not accepted; send PNG, JPEG or WebP")
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise UploadRefused(422, f"the image is {width}x{height}: over {MAX_PIXELS // 1_000_000} million pixels")
    if min(width, height) < MIN_SIDE:
        raise UploadRefused(422, f"the image is {width}x{height}: each side must be at least {MIN_SIDE} pixels")
    try:
        image.load()
        upright = ImageOps.exif_transpose(image) or image
        rgb = upright.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise UploadRefused(422, f"the image cannot be decoded: {exc}") from None
    out = io.BytesIO()
    rgb.save(out, format="PNG", optimize=False)  # no exif, no text chunks: nothing but pixels
    return out.getvalue(), rgb.width, rgb.height, str(image.format)


class UploadStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, upload_id: str) -> Path:
        if not is_upload_id(upload_id):
            raise ValueError("not an upload id")
        return self.directory / f"{upload_id}.png"

    def exists(self, upload_id: str) -> bool:
        return is_upload_id(upload_id) and self.path(upload_id).is_file()

    def save(self, data: bytes) -> Upload:
        png, width, height, source = normalize_image(data)
        upload_id = hashlib.sha256(png).hexdigest()
        target = self.path(upload_id)
        if not target.exists():
            self.directory.mkdir(parents=True, exist_ok=True)
            # A name of its own per save: two saves of one picture at once each
            # rename their own file into place (the same bytes, atomically).
            fd, partial = tempfile.mkstemp(dir=self.directory, prefix=f".{upload_id}.", suffix=".part")
            try:
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
