"""Presets: named saved settings (a part of a create body), optionally for one
model, in the jobs database. This is storage only: what a preset's values may
be is the job spec's to say, and api/preset_values.py checks them before they
reach here (and again when one is applied, as the spec may have changed)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ..database.tables import PresetRow

# Enough for every combination anyone keeps by hand, and a menu that still
# opens at once; an import past it is refused whole.
MAX_PRESETS: Final = 1000
MAX_NAME_CHARS: Final = 100  # the column's length (database/tables.py)
# A preset's values as stored (compact JSON, UTF-8): a few hundred bytes as
# people keep them. 64 KiB takes a maximal prompt (10,000 characters) in any
# script, or a prompt and a negative prompt of 10,000 CJK characters each
# (3 bytes each in UTF-8: 60 KB); two maximal prompts of emoji (4 bytes each:
# 80 KB) do not fit. It bounds the presets table, GET /api/presets and an
# export at MAX_PRESETS times it.
MAX_VALUES_BYTES: Final = 64 * 1024


class PresetNotFound(Exception):
    def __init__(self, preset_id: str) -> None:
        super().__init__(f"preset {preset_id} not found")


class PresetNameTaken(Exception):
    """Another preset has this name: a 409."""

    def __init__(self, name: str) -> None:
        super().__init__(f"a preset named {name!r} exists already: choose another name, or change that one")
        self.name = name


class TooManyPresets(Exception):
    """More presets than MAX_PRESETS: a 409."""

    def __init__(self, adding: int, have: int) -> None:
        super().__init__(f"at most {MAX_PRESETS} presets: there are {have}, and this adds {adding}; "
                         f"delete some first")


@dataclass(frozen=True)
class Preset:
    id: str
    name: str
    model_id: str | None
    values: Any  # {field: value} as saved (checked then; apply checks them again); a hand edit may leave anything
    created_at: float
    updated_at: float

    @classmethod
    def of(cls, row: PresetRow) -> Preset:
        try:
            values = json.loads(row.values)
        except ValueError:  # a row edited outside the server: applying it says so
            values = row.values
        return cls(row.id, row.name, row.model_id, values, row.created_at, row.updated_at)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "model_id": self.model_id, "values": self.values,
                "created_at": self.created_at, "updated_at": self.updated_at}


@dataclass(frozen=True)
class NewPreset:
    """A preset to store, already checked."""

    name: str
    model_id: str | None
    values: Mapping[str, Any]


@dataclass(frozen=True)
class Imported:
    """What an import did, by name."""

    created: list[str]
    replaced: list[str]
    skipped: list[str]


_UNSET: Any = object()


class PresetStore:
    def __init__(self, engine: Engine) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def _session(self) -> Session:
        return self._sessions()

    def all(self) -> list[Preset]:
        """Every preset, by name."""
        with self._session() as session:
            return [Preset.of(row) for row in session.scalars(select(PresetRow).order_by(PresetRow.name))]

    def get(self, preset_id: str) -> Preset:
        with self._session() as session:
            row = session.get(PresetRow, preset_id)
            if row is None:
                raise PresetNotFound(preset_id)
            return Preset.of(row)

    def find(self, name: str) -> Preset | None:
        with self._session() as session:
            row = session.scalar(select(PresetRow).where(PresetRow.name == name))
            return Preset.of(row) if row is not None else None

    def create(self, preset: NewPreset) -> Preset:
        with self._session() as session, session.begin():
            self._room(session, 1)
            self._name_free(session, preset.name)
            row = _row(preset, time.time())
            session.add(row)
            self._flush(session, preset.name)
            return Preset.of(row)

    def update(self, preset_id: str, name: str | None = None, model_id: Any = _UNSET,
               values: Mapping[str, Any] | None = None) -> Preset:
        """Change what is given (`model_id=None` unties it from its model)."""
        with self._session() as session, session.begin():
            row = session.get(PresetRow, preset_id)
            if row is None:
                raise PresetNotFound(preset_id)
            if name is not None and name != row.name:
                self._name_free(session, name)
                row.name = name
            if model_id is not _UNSET:
                row.model_id = model_id
            if values is not None:
                row.values = dumped(values)
            row.updated_at = time.time()
            self._flush(session, row.name)
            return Preset.of(row)

    def delete(self, preset_id: str) -> None:
        with self._session() as session, session.begin():
            if not session.execute(delete(PresetRow).where(PresetRow.id == preset_id)).rowcount:  # type: ignore[attr-defined]
                raise PresetNotFound(preset_id)

    def import_all(self, presets: Sequence[NewPreset], replace: bool) -> Imported:
        """All of them in one transaction: each new name created; one whose name
        exists replaces that preset's model and values (keeping its id) when
        `replace`, else is skipped."""
        done = Imported([], [], [])
        now = time.time()
        with self._session() as session, session.begin():
            existing = {row.name: row for row in session.scalars(
                select(PresetRow).where(PresetRow.name.in_([preset.name for preset in presets])))}
            new = [preset for preset in presets if preset.name not in existing]
            self._room(session, len(new))
            for preset in presets:
                row = existing.get(preset.name)
                if row is None:
                    session.add(_row(preset, now))
                    done.created.append(preset.name)
                elif replace:
                    row.model_id, row.values, row.updated_at = preset.model_id, dumped(preset.values), now
                    done.replaced.append(preset.name)
                else:
                    done.skipped.append(preset.name)
            self._flush(session, ", ".join(done.created))
        return done

    @staticmethod
    def _room(session: Session, adding: int) -> None:
        have = int(session.scalar(select(func.count()).select_from(PresetRow)) or 0)
        if adding and have + adding > MAX_PRESETS:
            raise TooManyPresets(adding, have)

    @staticmethod
    def _name_free(session: Session, name: str) -> None:
        if session.scalar(select(PresetRow.id).where(PresetRow.name == name)) is not None:
            raise PresetNameTaken(name)

    @staticmethod
    def _flush(session: Session, name: str) -> None:
        """Write now, so that a name taken meanwhile (another request between
        the check and the write) is the same 409, not a 500."""
        try:
            session.flush()
        except IntegrityError:
            raise PresetNameTaken(name) from None


def _row(preset: NewPreset, now: float) -> PresetRow:
    return PresetRow(id=str(uuid.uuid4()), name=preset.name, model_id=preset.model_id,
                     values=dumped(preset.values), created_at=now, updated_at=now)


def dumped(values: Mapping[str, Any]) -> str:
    """The values as stored: compact JSON, each character as itself (an escape
    such as \\ud83e\\udd8a takes 12 bytes where UTF-8 takes 4)."""
    return json.dumps(dict(values), allow_nan=False, ensure_ascii=False, separators=(",", ":"))
