"""The store's fast reads: a listing's total is cached between the creates and
deletes that change it, and one job's record by id reads as a listing does."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from job_values import job_params

from fastvideo_ui.database.engine import make_engine
from fastvideo_ui.database.migrate import migrate
from fastvideo_ui.jobs.serialize import RECORD_COLUMNS, record_json
from fastvideo_ui.jobs.states import JobStatus
from fastvideo_ui.jobs.store import JobFilter, JobStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    engine = make_engine(tmp_path / "jobs.sqlite3")
    migrate(engine)
    yield JobStore(engine)
    engine.dispose()


def add(store: JobStore, job_id: str, status: str = "pending", **changes: Any) -> None:
    store.create(**dataclasses.asdict(job_params(**changes)), id=job_id, status=status,
                 created_at=float(len(job_id)), log_file_path=f"{job_id}.log")


def test_the_total_follows_every_create_and_delete(store: JobStore) -> None:
    assert store.count() == 0
    add(store, "a", prompt="a heron")
    add(store, "bb", status="completed", prompt="a fox")
    assert store.count() == 2 and store.count() == 2  # the second from the cache
    add(store, "ccc")
    assert store.count() == 3
    assert store.count(JobFilter((JobStatus.COMPLETED,))) == 1 and store.count(JobFilter(prompt_contains="HERON")) == 1
    assert store.delete("a")
    assert store.count() == 2 and store.count(JobFilter(prompt_contains="heron")) == 0
    assert not store.delete("a")
    assert store.count() == 2


def test_one_jobs_record_is_its_listing_record(store: JobStore) -> None:
    add(store, "a", prompt="a heron", negative_prompt="blur")
    listed = store.list_records(RECORD_COLUMNS, 10)
    assert store.record("a", RECORD_COLUMNS) == listed[0]
    assert record_json(store.record("a", RECORD_COLUMNS) or ()) == record_json(listed[0])
    assert store.record("b", RECORD_COLUMNS) is None


def test_a_runs_warnings_read_as_a_list_from_a_listing_and_from_its_row(store: JobStore) -> None:
    from fastvideo_ui.jobs.serialize import job_json

    add(store, "a", status="running")
    assert record_json(store.list_records(RECORD_COLUMNS, 10)[0])["warnings"] == ()  # JSON's []
    assert store.update_running("a", warnings='["LoRA x matched no layer"]')
    assert record_json(store.list_records(RECORD_COLUMNS, 10)[0])["warnings"] == ("LoRA x matched no layer",)
    assert job_json(store.require("a"))["warnings"] == ("LoRA x matched no layer",)


@pytest.mark.parametrize("returning", [True, False], ids=["RETURNING", "SQLite before 3.35"])
def test_a_transition_returns_the_row_as_a_read_gives_it(tmp_path: Path, returning: bool) -> None:
    """The row a move hands back is the row as stored (a REAL column a float, as SELECT reads it), with
    SQLite's RETURNING or, where SQLite has none, read back after the UPDATE."""
    from fastvideo_ui.database.migrate import migrate_apart
    from fastvideo_ui.jobs.states import Action, IllegalTransition
    from fastvideo_ui.jobs.store import JobStore

    engine = make_engine(tmp_path / "jobs.sqlite3")
    migrate_apart(engine, tmp_path / "jobs.sqlite3")
    store = JobStore(engine)
    store._returning = returning
    values = dataclasses.asdict(job_params(guidance_scale=3))  # a whole number in a REAL column
    store.create(id="j", status="pending", created_at=1.0, log_file_path="j.log", phase="", progress=0.0,
                 progress_msg="", attempts=0, **values)
    moved = store.transition("j", Action.START, queued_at=2.0, queue_rank=2.0, held=False, phase="queued")
    again = store.require("j")
    assert (moved.status, moved.queued_at, moved.held) == ("queued", 2.0, False)
    assert {c.name: getattr(moved, c.name) for c in again.__table__.columns} == {
        c.name: getattr(again, c.name) for c in again.__table__.columns}
    assert type(moved.guidance_scale) is float
    with pytest.raises(IllegalTransition):
        store.transition("j", Action.COMPLETE)  # a move the stored status does not allow changes nothing
    assert store.require("j").status == "queued"
