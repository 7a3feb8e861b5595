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
from fastvideo_ui.jobs.store import JobStore


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
    assert store.count([JobStatus.COMPLETED]) == 1 and store.count(prompt_contains="HERON") == 1
    assert store.delete("a")
    assert store.count() == 2 and store.count(prompt_contains="heron") == 0
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
