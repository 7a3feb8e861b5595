"""What a preset's values may be, from the job spec: which fields a preset
keeps, each value checked by its field's own rules (the create body's, derived
from the spec, with every field optional), then against a model where the
preset names one (JobService.checked: the model's limits, what applies to it,
the rules between fields). Saving a preset checks them, and so does applying
one: the spec or the model may have changed since it was saved."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping, Sequence
from typing import Any, Final

from fastapi import HTTPException
from pydantic import ValidationError

from ..jobs.params import InvalidParams
from ..jobs.presets import MAX_VALUES_BYTES, dumped
from ..jobs.service import JobService
from ..spec.fields import FIELDS, FieldSpec
from .errors import validation_detail
from .spec_models import request_model
from .video_shape import printable

Loc = Sequence[str | int]
# Problems a 422 names, past which it says how many more: a body of a thousand
# unknown fields (or an import of a thousand bad presets) is not answered one
# by one, nor each name matched against the fields for a hint.
MAX_PROBLEMS: Final = 20


def _not_kept(f: FieldSpec) -> str | None:
    """Why a preset cannot keep this field, or None. Read off the field's own attributes."""
    if f.upload:
        return ("names an uploaded file, which the server deletes once no job uses it: a preset cannot keep it "
                "(choose the file when you submit)")
    if f.secret:
        return ("is a secret, and presets are shown to every user and exported as plain JSON: a preset never "
                "keeps one")
    return None


NOT_KEPT: Final = {f.name: why for f in FIELDS if (why := _not_kept(f)) is not None}
KEPT: Final = tuple(f for f in FIELDS if f.name not in NOT_KEPT)
_KEPT_NAMES: Final = frozenset(f.name for f in KEPT)


def _optional(f: FieldSpec) -> FieldSpec:
    """The field as a preset holds it: a required field (the prompt) may be left out too."""
    return dataclasses.replace(f, default=None) if f.required else f


# The create body's own checks, for the fields a preset keeps, each of them optional. Its `start`
# never gets a value: only KEPT names reach it (_unknown refuses every other).
PresetValues: Final = request_model(tuple(_optional(f) for f in KEPT), name="PresetValues")


def _unknown(name: str) -> str:
    if name in NOT_KEPT:
        return NOT_KEPT[name]
    close = difflib.get_close_matches(name, [f.name for f in KEPT], n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else "; GET /api/models lists each model's fields"
    return f"not a job field a preset can hold{hint}"


class PresetInvalid(Exception):
    """A preset's values break rules: the 422 items, each naming where."""

    def __init__(self, detail: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, item['loc']))}: {item['msg']}" for item in detail))
        self.detail = detail

    def http(self) -> HTTPException:
        return HTTPException(status_code=422, detail=self.detail)


def _item(loc: Loc, message: str) -> dict[str, Any]:
    return {"type": "value_error", "loc": list(loc), "msg": message}


def checked_values(jobs: JobService, values: Any, model_id: str | None, at: Loc,
                   model_at: Loc) -> dict[str, Any]:
    """`values` as a preset keeps them (normalised as a create body would be: a
    prompt without the space around it, a LoRA's record whole), or
    PresetInvalid. `at`: where the values are in the request (["body",
    "values"]); `model_at`: where `model_id` is. A model_id among the values is
    the model when `model_id` is None; where both are given they must agree."""
    if not isinstance(values, Mapping):
        raise PresetInvalid([_item(at, "must be an object of job fields and their values")])
    unknown = [str(name) for name in values if name not in _KEPT_NAMES]
    problems = [_item([*at, printable(name)], _unknown(name)) for name in unknown[:MAX_PROBLEMS]]
    if len(unknown) > MAX_PROBLEMS:
        problems.append(_item(at, f"and {len(unknown) - MAX_PROBLEMS} more fields a preset cannot hold"))
    try:
        parsed = PresetValues.model_validate({name: value for name, value in values.items() if name in _KEPT_NAMES})
    except ValidationError as exc:
        problems += [{**item, "loc": [*at, *item["loc"]]} for item in validation_detail(exc.errors())]
    if problems:
        raise PresetInvalid(problems)
    given = parsed.model_fields_set
    inner = values.get("model_id")
    if model_id is not None and inner is not None and inner != model_id:
        raise PresetInvalid([_item([*at, "model_id"], f"differs from the preset's model_id ({model_id}): give one")])
    model = model_id or inner
    if model is not None:
        _check_for_model(jobs, parsed.model_dump(include=given), model, at, model_at if model_id else [*at, "model_id"])
    return parsed.model_dump(mode="json", include=given)


def stored_size(values: Mapping[str, Any], at: Loc) -> None:
    """PresetInvalid naming `at` where the values, as stored, are past MAX_VALUES_BYTES (or are
    not text UTF-8 can store: no value checked by the spec is, but the rule is the store's)."""
    try:
        size = len(dumped(values).encode("utf-8"))
    except UnicodeEncodeError:
        raise PresetInvalid([_item(at, "holds text that is not valid Unicode (a lone surrogate)")]) from None
    if size > MAX_VALUES_BYTES:
        raise PresetInvalid([_item(at, f"take {size:,} bytes as stored (compact JSON, UTF-8): a preset's values "
                                       f"take at most {MAX_VALUES_BYTES:,} (64 KiB); shorten the longest text, "
                                       f"such as the prompt or the negative prompt")])


def _check_for_model(jobs: JobService, values: Mapping[str, Any], model: str, at: Loc, model_at: Loc) -> None:
    """The values as a create body for `model` would be checked, the rest left to
    the model's defaults. Only what the preset gives is answered for: an input
    image an image-to-video model needs comes with each job, not the preset."""
    try:
        jobs.checked({**values, "model_id": model})
    except InvalidParams as exc:
        errors = [_item(model_at if name == "model_id" else [*at, name], message)
                  for name, message in exc.errors if name == "model_id" or name in values]
        if errors:
            raise PresetInvalid(errors) from None
