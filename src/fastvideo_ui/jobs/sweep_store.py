"""Sweeps and their cells in the jobs database (tables SweepRow and SweepCell,
migration 0011). A cell keeps its job's id and coords after the job is
deleted: the grid shows a gap there rather than closing up around it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, delete, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from ..database.tables import JobRow, SweepCell, SweepRow


SUMMARY_TEXT = 1000  # of a base's prompt a page of sweeps reads: more than any summary shows


class SweepNotFound(Exception):
    def __init__(self, sweep_id: str) -> None:
        super().__init__(f"sweep {sweep_id} not found")
        self.sweep_id = sweep_id


@dataclass(frozen=True)
class Sweep:
    id: str
    created_at: float
    base: dict[str, Any]
    axes: list[tuple[str, list[Any]]]  # in the order given


@dataclass(frozen=True)
class Cell:
    position: int  # in product order
    job_id: str
    coords: dict[str, Any]


def _sweep(row: SweepRow) -> Sweep:
    axes = [(name, values) for name, values in json.loads(row.axes)]
    return Sweep(row.id, row.created_at, json.loads(row.base), axes)


class SweepStore:
    def __init__(self, engine: Engine) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def _session(self) -> Session:
        return self._sessions()

    def create(self, sweep: Sweep) -> None:
        row = SweepRow(id=sweep.id, created_at=sweep.created_at, base=json.dumps(sweep.base, allow_nan=False),
                       axes=json.dumps([[name, values] for name, values in sweep.axes], allow_nan=False))
        with self._session() as session, session.begin():
            session.add(row)

    def add_cell(self, sweep_id: str, cell: Cell) -> None:
        """One cell, as soon as its job exists: a sweep cut short still lists the jobs it made."""
        with self._session() as session, session.begin():
            session.add(SweepCell(sweep_id=sweep_id, position=cell.position, job_id=cell.job_id,
                                  coords=json.dumps(cell.coords, allow_nan=False)))

    def get(self, sweep_id: str) -> Sweep:
        with self._session() as session:
            row = session.get(SweepRow, sweep_id)
        if row is None:
            raise SweepNotFound(sweep_id)
        return _sweep(row)

    def cells(self, sweep_id: str) -> list[Cell]:
        query = select(SweepCell).where(SweepCell.sweep_id == sweep_id).order_by(SweepCell.position)
        with self._session() as session:
            return [Cell(row.position, row.job_id, json.loads(row.coords)) for row in session.scalars(query)]

    def newest_first(self, limit: int, after: tuple[float, str] | None = None,
                     base_fields: Sequence[str] = ()) -> list[Sweep]:
        """At most `limit` sweeps, newest first; with `after` (created_at, id), those older than it. Of each
        base only `base_fields` (read by SQLite: a page never parses whole bases), a text cut to SUMMARY_TEXT."""
        picked = [func.substr(func.json_extract(SweepRow.base, f"$.{name}"), 1, SUMMARY_TEXT) if name == "prompt"
                  else func.json_extract(SweepRow.base, f"$.{name}") for name in base_fields]
        query = (select(SweepRow.id, SweepRow.created_at, SweepRow.axes, *picked)
                 .order_by(SweepRow.created_at.desc(), SweepRow.id.desc()).limit(limit))
        if after is not None:
            created_at, sweep_id = after
            query = query.where(or_(SweepRow.created_at < created_at,
                                    and_(SweepRow.created_at == created_at, SweepRow.id < sweep_id)))
        with self._session() as session:
            rows = session.execute(query).all()
        return [Sweep(row[0], row[1], {name: value for name, value in zip(base_fields, row[3:], strict=True)
                                       if value is not None},
                      [(name, values) for name, values in json.loads(row[2])]) for row in rows]

    def count(self) -> int:
        with self._session() as session:
            return int(session.scalar(select(func.count()).select_from(SweepRow)) or 0)

    def totals(self, sweep_ids: Sequence[str]) -> dict[str, int]:
        """These sweeps' cells, their deleted jobs' among them."""
        query = (select(SweepCell.sweep_id, func.count()).where(SweepCell.sweep_id.in_(sweep_ids))
                 .group_by(SweepCell.sweep_id))
        with self._session() as session:
            return {sweep_id: count for sweep_id, count in session.execute(query)}

    def status_counts(self, sweep_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """These sweeps' jobs that still exist, counted by status (one grouped read, on ix_jobs_sweep)."""
        query = (select(JobRow.sweep_id, JobRow.status, func.count()).where(JobRow.sweep_id.in_(sweep_ids))
                 .group_by(JobRow.sweep_id, JobRow.status))
        counts: dict[str, dict[str, int]] = {}
        with self._session() as session:
            for sweep_id, status, count in session.execute(query):
                counts.setdefault(str(sweep_id), {})[status] = count
        return counts

    def delete(self, sweep_id: str) -> None:
        with self._session() as session, session.begin():
            session.execute(delete(SweepCell).where(SweepCell.sweep_id == sweep_id))
            session.execute(delete(SweepRow).where(SweepRow.id == sweep_id))
