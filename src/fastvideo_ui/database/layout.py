"""Where each per-job field of a job is stored, and how a query reaches it: a
column of its own (tables.JobFields: the fields that predate migration 0008)
or a key of the `params` JSON column (every field added since, so a new field
needs no migration). A layout is a function of a fields tuple, so a test can
lay out the spec's fields plus an extra one on the same table."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, case, func

from ..spec.fields import FIELDS, FieldSpec
from ..spec.rules import stored_defaults
from .tables import JobRow


class JobLayout:
    def __init__(self, fields: Sequence[FieldSpec] = FIELDS) -> None:
        self.fields = tuple(fields)
        self.in_json = tuple(f for f in self.fields if f.storage == "json")
        self._json = {f.name: f for f in self.in_json}
        self.in_json_names = frozenset(self._json)  # the names of the fields kept in `params`
        self._defaults = stored_defaults(self.fields)
        self._json_defaults = tuple((f.name, f, self._defaults[f.name]) for f in self.in_json)
        # As JSON has a default: a list field's () is [].
        self._json_listed = tuple((name, f, list(default) if f.is_list else default)
                                  for name, f, default in self._json_defaults)
        self._columns = JobRow.__table__.c
        # Built once: a fresh json_extract per listing cost a tenth of a page of 50's time to build and key.
        self._expressions = {f.name: self._expression(f.name) for f in self.fields}

    def expression(self, name: str) -> ColumnElement[Any]:
        """What a SELECT reads for `name`: its column, or its key of `params` (its
        default where a job lacks the key, as params_of reads it). Only a json
        field costs a json_extract per row; a column is selected as it is."""
        found = self._expressions.get(name)
        return self._expression(name) if found is None else found

    def _expression(self, name: str) -> ColumnElement[Any]:
        f = self._json.get(name)
        if f is None:
            return self._columns[name]
        path = f"$.{name}"
        value = func.json_extract(JobRow.params, path)
        if f.is_list:  # json_extract gives an array back as its JSON text: the record decodes it
            return func.coalesce(value, "[]").label(name)
        default = self._defaults[name]
        if default is None:
            return value.label(name)
        if f.nullable:  # a stored null stays null: only a missing key is the default
            return case((func.json_type(JobRow.params, path).is_(None), default), else_=value).label(name)
        return func.coalesce(value, default).label(name)

    def json_values(self, params: str | None) -> dict[str, Any]:
        """The json fields of a `params` text by name, each key it lacks as the field's default, as JSON
        has them: a listing reads the text once per row, where a json_extract per field re-read it in the
        query (jobs/serialize.py keeps what this gives per distinct text)."""
        stored = json.loads(params or "{}")
        return {name: stored.get(name, default) for name, _, default in self._json_listed}

    def insert_values(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """A new row's values: the json fields gathered into `params`."""
        if not self.in_json:
            return dict(values)
        out = {name: value for name, value in values.items() if name not in self._json}
        # Strict JSON (no NaN): SQLite's json_extract refuses the whole document, and so every listing.
        json_values = {name: value for name, value in values.items() if name in self._json}
        out["params"] = json.dumps(json_values, allow_nan=False)
        return out

    def update_values(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """An UPDATE's values: each json field set in place with json_set (the
        other keys of `params` kept), every other one as it is."""
        changed = [name for name in values if name in self._json]
        if not changed:
            return dict(values)
        out = {name: value for name, value in values.items() if name not in self._json}
        paths: list[Any] = []
        for name in changed:  # json(): the value as JSON (true, not 1; a string quoted)
            paths += [f"$.{name}", func.json(json.dumps(values[name], allow_nan=False))]
        out["params"] = func.json_set(JobRow.params, *paths)
        return out


LAYOUT = JobLayout()
