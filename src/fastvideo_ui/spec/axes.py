"""What a sweep's axis may name, read off the job spec (stdlib only: the
server checks a sweep with it, and `fastvideo-ui sweep` types its values by it).

An axis is a per-job field by its name (`guidance_scale`, `prompt`,
`model_id`, ...), or a field of one item of a list field (`loras.0.strength`,
the first LoRA's strength; `lora_strength` is short for it)."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from .fields import BY_NAME, FieldSpec

MAX_SWEEP_JOBS: Final = 64
# The axis most sweeps of a LoRA want, by a name of its own.
ALIASES: Final = {"lora_strength": "loras.0.strength"}
_ITEM = re.compile(r"(?P<field>\w+)\.(?P<index>\d{1,2})\.(?P<item>\w+)", re.ASCII)

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Axis:
    """An axis: its name as given, where it sets its values in a create body, and the field whose
    rules and type those values follow."""

    name: str
    path: Path  # ("guidance_scale",), or ("loras", 0, "strength")
    field: FieldSpec

    @property
    def item(self) -> bool:
        """It sets a field of a list item the base must already have."""
        return len(self.path) > 1


def axis(name: str) -> Axis | None:
    """The axis `name` names, or None when it names nothing a job has."""
    spelled = ALIASES.get(name, name)
    found = BY_NAME.get(spelled)
    if found is not None:
        return Axis(name, (spelled,), found)
    match = _ITEM.fullmatch(spelled)
    if match is None or (outer := BY_NAME.get(match["field"])) is None or not outer.is_list:
        return None
    inner = next((f for f in outer.items if f.name == match["item"]), None)
    if inner is None:
        return None
    return Axis(name, (outer.name, int(match["index"]), inner.name), inner)


def axis_names() -> str:
    """What an axis may be, in words (a 422 for an unknown one says it)."""
    items = [f"{f.name}.N.{item.name}" for f in BY_NAME.values() if f.is_list for item in f.items]
    aliases = [f"{alias} ({meaning})" for alias, meaning in ALIASES.items()]
    return f"a job field ({', '.join(BY_NAME)}), {', '.join(items)} (N counts from 0), or {', '.join(aliases)}"


def with_value(body: Mapping[str, Any], at: Axis, value: Any) -> dict[str, Any] | None:
    """A copy of the create body with the axis set to `value`; None when the body has no item for it
    (a LoRA's strength where the base names no LoRA, or too few)."""
    out = dict(body)
    if not at.item:
        out[str(at.path[0])] = value
        return out
    name, index, inner = at.path
    items = out.get(str(name))
    if not isinstance(items, (list, tuple)) or not isinstance(index, int) or index >= len(items) \
            or not isinstance(items[index], Mapping):
        return None
    changed = copy.deepcopy(list(items))
    changed[index] = {**changed[index], str(inner): value}
    out[str(name)] = changed
    return out
