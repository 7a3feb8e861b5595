"""Presets over HTTP: named saved settings, optionally for one model. Their
values are checked against the job spec (and the model) when saved, imported
and applied (api/preset_values.py); the New job dialog and `submit --preset`
apply one through POST /api/presets/{id}/apply."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any, Final

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, Field
from pydantic_core import PydanticCustomError

from ..jobs.presets import MAX_NAME_CHARS, MAX_PRESETS, NewPreset, Preset, PresetNotFound
from ..spec.fields import BY_NAME
from .deps import Jobs, Presets, uuid_id
from .openapi import DeletedBody, errors, returns
from .preset_values import KEPT, MAX_PROBLEMS, PresetInvalid, checked_values, stored_size
from .strict import StrictBody

router = APIRouter(prefix="/api/presets", tags=["presets"], responses=errors(401, 429))
_MODEL = BY_NAME["model_id"]


# What a name may not hold: control characters (a line break, a tab), format characters (category Cf:
# bidi overrides such as U+202E, zero widths such as U+200B), line and paragraph separators. Each hides
# in a menu or makes one name look like another.
_HIDDEN: Final = {"Cc": "a control character", "Cf": "a format character", "Zl": "a line separator",
                  "Zp": "a paragraph separator"}
_SAID: Final = {"\n": "a line break", "\r": "a carriage return", "\t": "a tab"}


def _name(value: str) -> str:
    """A preset's name without the space around it, in Unicode's NFC form (so that "é" as one character and
    as e + U+0301 are one name): one line of visible text, as a menu shows it, that fits the column."""
    surrogate = next((index for index, char in enumerate(value) if "\ud800" <= char <= "\udfff"), None)
    if surrogate is not None:
        # The prompt's 422 for the same (pydantic's string_unicode), saying where: JSON can write a
        # lone half of a UTF-16 pair ("\ud800"), but no text holds one and UTF-8 cannot store it.
        raise PydanticCustomError("string_unicode", "must be valid Unicode text: U+{code} at character {at} is a "
                                  "lone surrogate (half of a UTF-16 pair)",
                                  {"code": f"{ord(value[surrogate]):04X}", "at": surrogate + 1})
    value = unicodedata.normalize("NFC", value.strip())
    if not value:
        raise ValueError("must not be empty")
    for index, char in enumerate(value):
        what = _HIDDEN.get(unicodedata.category(char))
        if what is not None:
            named = _SAID.get(char) or unicodedata.name(char, "")
            raise ValueError(f"must be one line of visible text: U+{ord(char):04X} ({what}{': ' if named else ''}"
                             f"{named}) at character {index + 1}; a name holds no control or format characters "
                             f"(line breaks, tabs, bidi overrides, zero-width spaces), which hide in a menu or make "
                             f"two names look alike")
    if len(value) > MAX_NAME_CHARS:
        raise ValueError(f"must be at most {MAX_NAME_CHARS} characters, not {len(value)}")
    return value


Name = Annotated[str, Field(description="its name: one line, 1 to 100 characters, unique"), AfterValidator(_name)]
ModelId = Annotated[str | None, Field(min_length=_MODEL.min_length, max_length=_MODEL.max_length,
                                      description="the model it is for (GET /api/models); null: any model")]
Values = Annotated[dict[str, Any], Field(description="job fields and their values, as a create body gives them: "
                                         f"any of {', '.join(f.name for f in KEPT)}")]


class PresetBody(StrictBody):
    name: Name
    model_id: ModelId = None
    values: Values = Field(default_factory=dict)


class PresetChange(StrictBody):
    """What to change; `values` replaces the preset's values whole."""

    name: Name | None = None
    model_id: ModelId = None
    values: Values | None = None


class ApplyBody(StrictBody):
    model_id: ModelId = Field(None, description="check it for this model (default: the preset's own)")


class ImportedPreset(PresetBody):
    """A preset as an export gives it: its id and times are not kept (it gets new ones)."""

    id: str | None = None
    created_at: float | None = None
    updated_at: float | None = None


class ImportBody(StrictBody):
    presets: list[ImportedPreset] = Field(max_length=MAX_PRESETS)
    replace: bool = Field(False, description="a preset whose name exists replaces that one (else it is skipped)")


class PresetOut(BaseModel):
    id: str
    name: str
    model_id: str | None
    values: dict[str, Any]
    created_at: float = Field(description="Unix time")
    updated_at: float = Field(description="Unix time")


class Applied(BaseModel):
    model_id: str | None = Field(description="the model it was checked for (null: none; only the spec)")
    values: dict[str, Any] = Field(description="the preset's fields and values, as checked now")


class ExportOut(BaseModel):
    presets: list[PresetOut]


class ImportOut(BaseModel):
    """What the import did, by name (GET /api/presets lists the presets)."""

    created: list[str]
    replaced: list[str]
    skipped: list[str] = Field(description="names that exist, left as they are (without `replace`)")


class PresetConflict(BaseModel):
    detail: str
    name: str | None = Field(None, description="the name another preset has")


# A preset's 409 is its own: a name taken, or no room for more (not a job's state).
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": PresetConflict, "description": "another preset has this name, or there are as many as may be"}}


def _id(text: str) -> str:
    return uuid_id(text, PresetNotFound)


def _checked(jobs: Jobs, values: Any, model_id: str | None, storing: bool = True) -> dict[str, Any]:
    """The values checked, and (`storing`) within what a preset may store."""
    try:
        checked = checked_values(jobs, values, model_id, ["body", "values"], ["body", "model_id"])
        if storing:
            stored_size(checked, ["body", "values"])
        return checked
    except PresetInvalid as exc:
        raise exc.http() from None


@router.get("", response_model=None, responses=returns(list[PresetOut]))
def list_presets(presets: Presets) -> JSONResponse:
    return JSONResponse([preset.to_json() for preset in presets.all()])


# Writes run on the event loop, as the job routes' do: a model's check reads the scheduler's inventory.
@router.post("", status_code=201, response_model=None,
             responses={**returns(PresetOut, 400, 413, 422, status=201), **_CONFLICT})
async def create_preset(jobs: Jobs, presets: Presets, body: PresetBody) -> JSONResponse:
    values = _checked(jobs, body.values, body.model_id)
    preset = presets.create(NewPreset(body.name, body.model_id, values))
    return JSONResponse(preset.to_json(), status_code=201)


@router.get("/export", response_model=None, responses=returns(ExportOut))
def export_presets(presets: Presets) -> JSONResponse:
    return JSONResponse({"presets": [preset.to_json() for preset in presets.all()]})


@router.post("/import", response_model=None, responses={**returns(ImportOut, 400, 413, 422), **_CONFLICT})
async def import_presets(jobs: Jobs, presets: Presets, body: ImportBody) -> JSONResponse:
    """Each is checked as a new preset is; if any is refused, none is imported. The answer names what was
    done (not the presets themselves: GET /api/presets lists them)."""
    problems: list[dict[str, Any]] = []
    checked: list[NewPreset] = []
    first: dict[str, int] = {}
    for index, item in enumerate(body.presets):
        if len(problems) >= MAX_PROBLEMS:
            problems.append({"type": "value_error", "loc": ["body", "presets"],
                             "msg": f"and perhaps more: checking stopped at preset {index} of {len(body.presets)} "
                                    f"after {len(problems)} problems"})
            break
        at: list[str | int] = ["body", "presets", index]
        if item.name in first:
            problems.append({"type": "value_error", "loc": [*at, "name"],
                             "msg": f"repeats the name of preset {first[item.name]}: each name once"})
        first.setdefault(item.name, index)
        try:
            values = checked_values(jobs, item.values, item.model_id, [*at, "values"], [*at, "model_id"])
            stored_size(values, [*at, "values"])
        except PresetInvalid as exc:
            problems += exc.detail
            continue
        checked.append(NewPreset(item.name, item.model_id, values))
    if problems:
        return JSONResponse({"detail": problems}, status_code=422)
    # The checks above stay on the event loop (a model's check reads the scheduler's inventory); storing
    # touches only the presets table, and a thousand rows of up to 64 KiB need not hold the loop.
    done = await run_in_threadpool(presets.import_all, checked, body.replace)
    return JSONResponse({"created": done.created, "replaced": done.replaced, "skipped": done.skipped})


@router.get("/{preset_id}", response_model=None, responses=returns(PresetOut, 404))
def get_preset(presets: Presets, preset_id: str) -> JSONResponse:
    return JSONResponse(presets.get(_id(preset_id)).to_json())


@router.patch("/{preset_id}", response_model=None, responses={**returns(PresetOut, 400, 404, 413, 422), **_CONFLICT})
async def change_preset(jobs: Jobs, presets: Presets, preset_id: str, body: PresetChange) -> JSONResponse:
    """The preset as changed is checked whole: new values for its model, or its values for a new model."""
    preset = presets.get(_id(preset_id))
    model_id = body.model_id if "model_id" in body.model_fields_set else preset.model_id
    values = _checked(jobs, preset.values if body.values is None else body.values, model_id)
    changed = presets.update(preset.id, name=body.name, model_id=model_id, values=values)
    return JSONResponse(changed.to_json())


@router.delete("/{preset_id}", response_model=None, responses=returns(DeletedBody, 404))
async def delete_preset(presets: Presets, preset_id: str) -> dict[str, str]:
    preset = presets.get(_id(preset_id))
    presets.delete(preset.id)
    return {"detail": f"Preset {preset.name!r} deleted"}


@router.post("/{preset_id}/apply", response_model=None, responses=returns(Applied, 400, 404, 413, 422))
async def apply_preset(jobs: Jobs, presets: Presets, preset_id: str, body: ApplyBody | None = None) -> JSONResponse:
    """The preset's values, checked now against the spec and the model given (else the preset's own): a value
    that no longer holds, saved under older limits or a field since removed, is a 422 naming it."""
    preset = presets.get(_id(preset_id))
    return JSONResponse(_applied(jobs, preset, body.model_id if body else None))


def _applied(jobs: Jobs, preset: Preset, asked: str | None) -> dict[str, Any]:
    values = preset.values
    if asked is not None and isinstance(values, dict) and values.get("model_id") not in (None, asked):
        # The model asked for is the caller's choice, as a flag given beside the preset is: it replaces the
        # preset's own, which its values then need not repeat.
        values = {name: value for name, value in values.items() if name != "model_id"}
    model_id = asked or preset.model_id
    values = _checked(jobs, values, model_id, storing=False)
    return {"model_id": model_id or values.get("model_id"), "values": values}
