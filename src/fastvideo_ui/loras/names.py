"""What a LoRA in the library may be called: a plain file name that ends in
.safetensors. A name given without that ending gets it (`my-style` is
`my-style.safetensors`), so a job, an upload and a delete may each leave it
off. The name is a file in --lora-dir, so nothing in it may lead out of the
directory or hide the file."""

from __future__ import annotations

import unicodedata

SUFFIX = ".safetensors"
# What the pickle formats are called; their files run code when loaded (safetensors_header.PICKLE_WHY).
PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".pkl", ".pickle")
MAX_NAME_BYTES = 200
_HIDDEN = ("Cc", "Cs", "Cf", "Co", "Zl", "Zp")  # in UTF-8, the ending included: well within any file system's 255


class LoraRefused(Exception):
    """An upload or a name the library does not take: its HTTP status, and the
    request field at fault ("name" or "file")."""

    def __init__(self, status: int, message: str, field: str = "file") -> None:
        super().__init__(message)
        self.status = status
        self.field = field


def _bad(rule: str) -> LoraRefused:
    return LoraRefused(422, rule, "name")


def lora_name(text: str) -> str:
    """The library's name for `text` (.safetensors added where it is missing), or
    LoraRefused saying which rule it breaks: 415 for a pickle's ending, else 422."""
    if not text:
        raise _bad("must not be empty")
    # Characters a name shows differently from what it is (bidi overrides, zero widths, private use,
    # line separators) are refused; one name in two Unicode forms (macOS writes NFD) is one file.
    if any(unicodedata.category(char) in _HIDDEN for char in text):
        raise _bad("must not hold control, format (bidi, zero-width), private-use or line-separator characters")
    text = unicodedata.normalize("NFC", text)
    if "/" in text or "\\" in text:
        raise _bad("must be a plain file name, without / or \\")
    if ".." in text:
        raise _bad("must not contain ..")
    if text.startswith("."):
        raise _bad("must not start with a dot")
    if text != text.strip():
        raise _bad("must not start or end with a space")
    if text.lower().endswith(PICKLE_SUFFIXES):
        raise LoraRefused(415, f"{text!r} names a pickle: only .safetensors files are accepted, as a pickle runs "
                               f"code when it is loaded; convert it to .safetensors first", "name")
    name = text if text.lower().endswith(SUFFIX) else text + SUFFIX
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise _bad(f"must be at most {MAX_NAME_BYTES} bytes in UTF-8, {SUFFIX} included")
    return name


def valid_name(text: str) -> str | None:
    """The library's name for `text`, or None where it cannot be one."""
    try:
        return lora_name(text)
    except LoraRefused:
        return None


def spellings(name: str) -> tuple[str, ...]:
    """How a job may name the library's `name`: with its ending and without."""
    stem = name[:-len(SUFFIX)]
    return (name, stem) if stem else (name,)
