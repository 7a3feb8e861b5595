"""Run a function right before a module is imported, or right after its body
has run (before anything else can import names from it)."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

_AFTER: dict[str, list[Callable[[ModuleType], None]]] = {}
_BEFORE: dict[str, list[Callable[[], None]]] = {}


def after_import(name: str, mend: Callable[[ModuleType], None]) -> None:
    _install()
    _AFTER.setdefault(name, []).append(mend)


def before_import(name: str, prepare: Callable[[], None]) -> None:
    _install()
    _BEFORE.setdefault(name, []).append(prepare)


class _Loader(importlib.abc.Loader):
    def __init__(self, inner: importlib.abc.Loader, name: str) -> None:
        self.inner = inner
        self.name = name

    def __getattr__(self, attribute: str) -> Any:  # get_resource_reader, is_package, ...
        return getattr(self.inner, attribute)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.inner.exec_module(module)
        for mend in _AFTER.get(self.name, []):
            mend(module)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        for prepare in _BEFORE.pop(name, []):
            prepare()
        if name not in _AFTER:
            return None
        for finder in sys.meta_path:
            if isinstance(finder, _Finder) or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _Loader(spec.loader, name)
                return spec
        return None


def _install() -> None:
    if not any(isinstance(finder, _Finder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
