"""A new per-job field needs no migration: test-only fields with the default
storage="json" (a float, the design's proof field, and a bool, which SQLite
hands back as 1) laid out next to the spec's on a migrated database go into
the `params` JSON column and come back whole through the store's create, get,
updates and listing, the job's JSON, params_of and the worker's run message. A
job stored before the fields existed reads their defaults."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from job_values import job_params
from sqlalchemy import Engine, text

from fastvideo_ui.backends.base import ModelConfig
from fastvideo_ui.database.engine import make_engine
from fastvideo_ui.database.layout import JobLayout
from fastvideo_ui.database.migrate import migrate
from fastvideo_ui.jobs.serialize import RECORD_COLUMNS, JobJson
from fastvideo_ui.jobs.states import Action
from fastvideo_ui.jobs.store import JobFilter, JobStore
from fastvideo_ui.spec.fields import FIELDS, Group, JobParams, fields_of, param
from fastvideo_ui.spec.rules import from_wire, params_of
from fastvideo_ui.workers.protocol import RunJob


@dataclass(frozen=True, kw_only=True)
class WithExtra(JobParams):
    detail_boost: float = param(0.0, group=Group.GENERATION, minimum=0.0, maximum=1.0, finite=True,
                                    help="boosts fine detail (0: off)")
    sharp_edges: bool = param(True, group=Group.OPTION, help="a test-only flag, on unless asked off")


EXTRA = fields_of(WithExtra)
LAYOUT = JobLayout(EXTRA)
JSON = JobJson(LAYOUT)
NEW = ("detail_boost", "sharp_edges")


def extra(**changes: Any) -> WithExtra:
    """A job's values with the extra fields; `changes` to any field."""
    new = {name: changes.pop(name) for name in NEW if name in changes}
    return WithExtra(**dataclasses.asdict(job_params(**changes)), **new)


def record(job_id: str, created_at: float, params: JobParams) -> dict[str, Any]:
    """A new row's values as the job service stores them: every field, and the record's own."""
    return dataclasses.asdict(params) | {"id": job_id, "status": "pending", "created_at": created_at,
                                         "log_file_path": f"{job_id}.log"}


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(tmp_path / "jobs.sqlite3")
    migrate(engine)
    yield engine
    engine.dispose()


def test_the_extra_fields_are_kept_in_params_and_no_column_is_needed(engine: Engine) -> None:
    assert [f.storage for f in EXTRA[len(FIELDS):]] == ["json", "json"]
    spec_json = tuple(f for f in FIELDS if f.storage == "json")  # the spec's own fields added since 0008
    assert LAYOUT.in_json == spec_json + EXTRA[len(FIELDS):] and JobLayout().in_json == spec_json
    store = JobStore(engine, LAYOUT)
    store.create(**record("new", 2.0, extra(detail_boost=0.7, sharp_edges=False)))
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT params FROM jobs WHERE id = 'new'")).scalar_one()
    defaults = {f.name: json.loads(json.dumps(f.fixed_default)) for f in spec_json}  # as JSON: () is []
    assert json.loads(stored) == defaults | {"detail_boost": 0.7, "sharp_edges": False}
    # The spec's column fields stay in their columns: a job stores only its json fields in params.
    JobStore(engine).create(**record("today", 1.0, job_params()))
    with engine.connect() as connection:
        assert json.loads(connection.execute(text("SELECT params FROM jobs WHERE id = 'today'")).scalar_one()) \
            == defaults


def test_a_job_round_trips_and_an_older_one_reads_the_defaults(engine: Engine, tmp_path: Path) -> None:
    store = JobStore(engine, LAYOUT)
    JobStore(engine).create(**record("old", 1.0, job_params()))  # stored before the fields existed
    store.create(**record("new", 2.0, extra(detail_boost=0.7, sharp_edges=False, prompt="a heron")))

    new, old = store.require("new"), store.require("old")
    params = params_of(new, WithExtra)
    assert params == extra(detail_boost=0.7, sharp_edges=False, prompt="a heron")
    assert (params_of(old, WithExtra).detail_boost, params_of(old, WithExtra).sharp_edges) == (0.0, True)
    assert params_of(new) == job_params(prompt="a heron")  # today's fields read as they did

    # A job's JSON, from its row and from a listing's records (json_extract, its default for the old job).
    single = {job_id: JSON.job_json(store.require(job_id)) for job_id in ("new", "old")}
    assert (single["new"]["detail_boost"], single["new"]["sharp_edges"]) == (0.7, False)
    assert (single["old"]["detail_boost"], single["old"]["sharp_edges"]) == (0.0, True)
    listed = [JSON.record_json(values) for values in store.list_records(JSON.record_columns, 10)]
    assert [job["id"] for job in listed] == ["new", "old"]
    assert listed == [single["new"], single["old"]]
    assert json.dumps(listed) == json.dumps([single["new"], single["old"]])  # the flag a bool, not SQLite's 1
    assert set(single["new"]) - set(RECORD_COLUMNS) >= set(NEW)
    # GET /api/jobs/{id}'s read (store.record, one job's record by id): the same JSON again.
    assert {job_id: JSON.record_json(store.record(job_id, JSON.record_columns) or ())
            for job_id in ("new", "old")} == single
    assert store.record("missing", JSON.record_columns) is None
    chunk, more = store.list_chunk(JSON.record_columns, 10, None, JobFilter(prompt_contains="heron"), 10**6)
    assert [JSON.record_json(values) for values in chunk] == [single["new"]] and not more

    # The worker's message carries them, and its receiver of the same version reads them back.
    run = RunJob(run_id="new#1", backend="fastvideo", model=ModelConfig.for_params(params), job_id="new",
                 params=params, output_path=tmp_path / "new.mp4", poster_path=tmp_path / "new.jpg")
    wire = json.loads(json.dumps(run.encode()))["params"]
    assert (wire["detail_boost"], wire["sharp_edges"]) == (0.7, False)
    assert from_wire(wire, WithExtra) == params


def test_an_update_sets_a_json_field_in_place(engine: Engine) -> None:
    store = JobStore(engine, LAYOUT)
    store.create(**record("job", 1.0, extra(detail_boost=0.7)))
    store.update_fields("job", sharp_edges=False, priority=3)
    row = store.require("job")
    assert (params_of(row, WithExtra).detail_boost, params_of(row, WithExtra).sharp_edges, row.priority) == \
        (0.7, False, 3)
    row = store.transition("job", Action.START, queued_at=5.0, queue_rank=5.0, detail_boost=0.25)
    assert {name: value for name, value in json.loads(row.params).items() if name in NEW} == \
        {"detail_boost": 0.25, "sharp_edges": False}  # true JSON, not 0
    assert row.status == "queued" and params_of(row, WithExtra).prompt == "a fox"
    assert [(job.id, job.params.model_id) for job in store.queue_order()] == [("job", row.model_id)]
