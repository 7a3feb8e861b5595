"""One door: routes reach the server's runtime only through api/deps.py's
dependencies (the JobService and the few other things they need), so no route
touches the store, scheduler or log book behind the service's back."""

from __future__ import annotations

import ast
import re
from pathlib import Path

API = Path(__file__).resolve().parent.parent / "src" / "fastvideo_ui" / "api"


def _reaches_runtime(path: Path) -> list[str]:
    """Where the module names app.state.runtime, or imports the runtime module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Attribute) and node.attr == "runtime":
            found.append(f"{path.name}:{node.lineno} .runtime")
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            absolute = module if not node.level else None
            if (node.level == 2 and module.split(".")[0] == "runtime") or (
                    node.level == 2 and not module and any(alias.name == "runtime" for alias in node.names)) or (
                    absolute is not None and absolute.startswith("fastvideo_ui.runtime")):
                found.append(f"{path.name}:{node.lineno} imports the runtime")
        elif isinstance(node, ast.Import):
            found += [f"{path.name}:{node.lineno} imports the runtime" for alias in node.names
                      if alias.name.startswith("fastvideo_ui.runtime")]
    return found


def test_only_deps_reaches_the_runtime() -> None:
    modules = sorted(API.glob("*.py"))
    assert API / "deps.py" in modules
    assert _reaches_runtime(API / "deps.py")  # the check sees it where it is
    wrong = [hit for path in modules if path.name != "deps.py" for hit in _reaches_runtime(path)]
    assert wrong == []


def test_runtime_of_is_gone() -> None:
    assert [path.name for path in API.glob("*.py") if "def runtime_of" in path.read_text()] == []


def test_no_route_module_imports_another_ones_private_helpers() -> None:
    wrong = []
    for path in sorted(API.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                wrong += [f"{path.name}: {node.module}.{alias.name}" for alias in node.names
                          if alias.name.startswith("_")]
    assert wrong == []


def test_backends_are_described_once() -> None:
    """What differs between backends is asked of backends/registry.py's BackendSpec, never of a name."""
    package = API.parent
    names = re.compile(r"""(backend|name)\s*[!=]=\s*["'](preview|fastvideo)["']|["'](preview|fastvideo)["']\s*[!=]=""")
    wrong = [f"{path.relative_to(package)}:{number}" for path in sorted(package.rglob("*.py"))
             if path != package / "backends" / "registry.py"
             for number, line in enumerate(path.read_text().splitlines(), 1) if names.search(line)]
    assert wrong == []
