"""The package's rooms and the doors between them: no module imports another
that (through any chain) imports it back, and each part of the package imports
only the parts below it. Every import counts, as the source says it: those
under TYPE_CHECKING and those inside functions too, since each is a dependency
someone reading or moving the code has to follow."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "fastvideo_ui"

# What each part may import, beyond its own modules. A part is a subpackage or
# a module directly under fastvideo_ui ("__init__" is the package itself: its
# __version__). A key or an entry may name a module inside a part (config may
# import auth.strength, not the rest of auth); a module gets the entries of
# every key that names it or a part it is in. Read bottom-up, it is the layering:
# leaves first, the composition root (runtime) and the doors (api, app) last.
ALLOWED: dict[str, set[str]] = {
    "__init__": set(),
    "words": set(),
    "oserrors": set(),
    "addresses": set(),
    "urls": set(),
    "prompts": set(),
    "admission": set(),
    "datadir": set(),
    "cli_output": {"client"},
    "client": set(),
    "auth.strength": set(),
    "settings_table": set(),
    "loras": set(),  # the LoRA library: files on disk, stdlib only
    # the job spec: stdlib only, below everything that reads a job's fields (a job's `loras` checked as the
    # library names them)
    "spec": {"prompts", "loras.choice", "loras.names"},
    "cli_flags": {"spec"},
    "backends": {"oserrors", "spec"},
    "database": {"spec"},  # the jobs table's per-job columns are derived from the spec
    "config": {"auth.strength", "settings_table", "webhooks.targets"},  # the webhook policy, inside functions
    "workers": {"__init__", "backends", "config", "oserrors", "spec"},
    "weights": {"config"},
    "webhooks": {"database", "urls", "addresses"},
    "auth": {"database"},
    "jobs": {"database", "backends", "workers", "weights", "words", "oserrors", "urls", "spec", "loras"},
    "runtime": {"auth", "config", "database", "jobs", "loras", "webhooks", "weights", "workers"},
    # runtime only from api/deps.py, the one door (tests/test_layers.py)
    "api": {"__init__", "addresses", "auth", "backends", "config", "database", "jobs", "loras", "prompts",
            "runtime", "spec", "webhooks", "weights", "workers"},
    "connections": {"addresses", "admission"},
    "app": {"__init__", "api", "config", "connections", "runtime", "workers"},
    "server": {"app", "config", "connections", "database.engine", "datadir", "workers"},
    "lora_commands": {"cli_output", "client"},
    "sweep_commands": {"cli_flags", "cli_output", "client", "spec"},
    "preset_commands": {"cli_output", "client", "spec"},
    "commands": {"cli_flags", "cli_output", "client", "lora_commands", "preset_commands", "prompts", "spec",
                 "sweep_commands"},
    "cli": {"__init__", "commands", "config", "server"},
    "__main__": {"cli"},
}


def _modules() -> dict[str, tuple[Path, bool]]:
    """Every module, by dotted name below fastvideo_ui ("" for the package itself): its file, and whether it is a
    package's __init__."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


MODULES = _modules()


def _known(dotted: str) -> str:
    """The module an import of `dotted` (below fastvideo_ui) loads: itself, else the nearest package holding it."""
    while dotted not in MODULES:
        dotted = dotted.rpartition(".")[0]
    return dotted


def _imports(name: str) -> Iterator[str]:
    """The package's modules that module `name` imports, anywhere in its source."""
    path, is_package = MODULES[name]
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                base = base[:len(base) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            elif node.module and (node.module + ".").startswith("fastvideo_ui."):
                target = node.module.removeprefix("fastvideo_ui").lstrip(".")
            else:
                continue
            for alias in node.names:  # `from . import events` imports a module; `from .x import y`, module x
                yield _known(f"{target}.{alias.name}".lstrip("."))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if (alias.name + ".").startswith("fastvideo_ui."):
                    yield _known(alias.name.removeprefix("fastvideo_ui").lstrip("."))


GRAPH = {name: set(_imports(name)) - {name} for name in MODULES}


def _part(name: str) -> str:
    return name.split(".")[0] if name else "__init__"


def _allowed(name: str) -> set[str]:
    keys = [key for key in ALLOWED if name == key or name.startswith(key + ".") or (key == "__init__" and not name)]
    return set().union(*(ALLOWED[key] for key in keys))


def _within(imported: str, entries: set[str]) -> bool:
    target = imported or "__init__"
    return any(target == entry or target.startswith(entry + ".") for entry in entries)


def test_the_survey_reads_imports_of_every_kind() -> None:
    # TYPE_CHECKING and function-level imports count (api/video_shape.py's Runtime, cli.py's server).
    assert "workers.ray_relay" in GRAPH["workers.ray_bridge"]
    assert "server" in GRAPH["cli"]
    assert "" in GRAPH["workers.main"]  # `from .. import __version__`, inside a function
    assert "database.tables" in GRAPH["jobs.store"]


def test_no_module_imports_one_that_imports_it_back() -> None:
    # Tarjan's strongly connected components: any with two or more modules is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        on_stack.add(name)
        for imported in GRAPH[name]:
            if imported not in index:
                visit(imported)
                low[name] = min(low[name], low[imported])
            elif imported in on_stack:
                low[name] = min(low[name], index[imported])
        if low[name] == index[name]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == name:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for name in sorted(GRAPH):
        if name not in index:
            visit(name)
    assert cycles == []


def test_every_part_is_placed_in_the_layering() -> None:
    parts = {_part(name) for name in MODULES}
    assert sorted(part for part in parts if part not in ALLOWED) == []


def test_the_layering_has_no_loop() -> None:
    # Between parts (a key's entries taken at the part level), so that no chain of allowed imports leads back.
    edges = {part: {_part(entry) for key, entries in ALLOWED.items() if _part(key) == part for entry in entries}
             - {part} for part in {_part(key) for key in ALLOWED}}
    seen: dict[str, bool] = {}  # part -> done (False while on the path)

    def walk(part: str, path: tuple[str, ...]) -> None:
        assert seen.get(part) is not False, " -> ".join((*path, part))
        if part in seen:
            return
        seen[part] = False
        for below in edges.get(part, ()):
            walk(below, (*path, part))
        seen[part] = True

    for part in sorted(edges):
        walk(part, ())


def test_each_part_imports_only_the_parts_below_it() -> None:
    wrong = sorted(f"{name or '__init__'} imports {imported or '__init__'}"
                   for name, imports in GRAPH.items() for imported in imports
                   if _part(imported) != _part(name) and not _within(imported, _allowed(name)))
    assert wrong == []
