"""The fake `fastvideo` keeps 0.2.1's signatures: checked against the real
wheel's source (parsed, never imported: it needs CUDA torch).

The wheel is looked for in $FASTVIDEO_WHEEL, then tests/.cache/; if absent,
this test tries `pip download --no-deps fastvideo==0.2.1` into tests/.cache/
and skips only when PyPI cannot be reached.
"""

from __future__ import annotations

import ast
import inspect
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # reads, or first downloads, the 0.2.1 wheel

FAKE = Path(__file__).parent / "fake_fastvideo"
CACHE = Path(__file__).parent / ".cache"
WHEEL_NAME = "fastvideo-0.2.1-py3-none-any.whl"

CHECKED = {
    "fastvideo/entrypoints/video_generator.py": {
        "VideoGenerator.from_pretrained": "fastvideo.entrypoints.video_generator:VideoGenerator.from_pretrained",
        "VideoGenerator.generate_video": "fastvideo.entrypoints.video_generator:VideoGenerator.generate_video",
        "VideoGenerator.shutdown": "fastvideo.entrypoints.video_generator:VideoGenerator.shutdown",
        "VideoGenerator.set_lora_adapter": "fastvideo.entrypoints.video_generator:VideoGenerator.set_lora_adapter",
    },
    "fastvideo/models/loader/lora_patch.py": {
        "DenseLoRAPatch.from_adapter": "fastvideo.models.loader.lora_patch:DenseLoRAPatch.from_adapter",
    },
    "fastvideo/registry.py": {
        "get_registered_model_paths": "fastvideo.registry:get_registered_model_paths",
        "get_registered_models_with_workloads": "fastvideo.registry:get_registered_models_with_workloads",
    },
}


def find_wheel() -> Path:
    candidates = [Path(os.environ["FASTVIDEO_WHEEL"])] if os.environ.get("FASTVIDEO_WHEEL") else []
    candidates.append(CACHE / WHEEL_NAME)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    CACHE.mkdir(exist_ok=True)
    try:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "fastvideo==0.2.1",
                        "-d", str(CACHE)], check=True, timeout=120, capture_output=True)
    except (subprocess.SubprocessError, OSError) as exc:
        pytest.skip(f"the fastvideo 0.2.1 wheel is not available here and could not be downloaded: {exc}")
    return CACHE / WHEEL_NAME


def real_parameters(source: str, qualname: str) -> list[tuple[str, str]]:
    """(name, kind) for each parameter of a function in `source`."""
    tree = ast.parse(source)
    scope: list[ast.stmt] = tree.body
    node: ast.AST | None = None
    for part in qualname.split("."):
        node = next(n for n in scope if isinstance(n, (ast.ClassDef, ast.FunctionDef)) and n.name == part)
        scope = node.body  # type: ignore[union-attr]
    assert isinstance(node, ast.FunctionDef)
    args = node.args
    out = [(a.arg, "positional") for a in [*args.posonlyargs, *args.args]]
    if args.vararg:
        out.append((args.vararg.arg, "*"))
    out += [(a.arg, "keyword") for a in args.kwonlyargs]
    if args.kwarg:
        out.append((args.kwarg.arg, "**"))
    return [p for p in out if p[0] not in ("self", "cls")]


def fake_parameters(target: str) -> list[tuple[str, str]]:
    module_name, _, qualname = target.partition(":")
    sys.path.insert(0, str(FAKE))
    try:
        obj = __import__(module_name, fromlist=["_"])
        for part in qualname.split("."):
            obj = getattr(obj, part)
    finally:
        # Leave no fake `fastvideo` importable in this process: the in-process
        # servers of later tests would take it for an installed one.
        sys.path.remove(str(FAKE))
        for name in [name for name in sys.modules if name == "fastvideo" or name.startswith("fastvideo.")]:
            del sys.modules[name]
    kinds = {
        inspect.Parameter.POSITIONAL_ONLY: "positional", inspect.Parameter.POSITIONAL_OR_KEYWORD: "positional",
        inspect.Parameter.VAR_POSITIONAL: "*", inspect.Parameter.KEYWORD_ONLY: "keyword",
        inspect.Parameter.VAR_KEYWORD: "**",
    }
    parameters = inspect.signature(obj).parameters.items()
    return [(name, kinds[p.kind]) for name, p in parameters if name not in ("self", "cls")]


def test_fake_signatures_match_the_real_wheel() -> None:
    wheel = find_wheel()
    with zipfile.ZipFile(wheel) as archive:
        for path, functions in CHECKED.items():
            source = archive.read(path).decode("utf-8")
            for qualname, target in functions.items():
                assert fake_parameters(target) == real_parameters(source, qualname), qualname
