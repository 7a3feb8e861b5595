"""Which jobs that have not ended (pending, queued or running) name a LoRA:
the library refuses to delete one a job still needs (loras/library.py takes
this as its `in_use`), so a job never starts with another file put in its
place under the same name.

A job's LoRAs are in its `params` JSON as `"loras": [{"lora": NAME,
"strength": S}, ...]`. SQLite's JSON functions read them in the query, so no
job row is loaded; a `loras` that is not a list, or an item that is not an
object, matches nothing instead of failing the query (so does a `params`
that is not JSON at all: CASE is evaluated lazily, json_type would fail on it)."""

from __future__ import annotations

from sqlalchemy import Engine, bindparam, text

from ..database.tables import JobRow
from .states import JobStatus

ACTIVE = (JobStatus.PENDING.value, JobStatus.QUEUED.value, JobStatus.RUNNING.value)

_USING = text(f"""
    SELECT DISTINCT job.id FROM {JobRow.__tablename__} AS job,
        json_each(CASE WHEN json_valid(job.params) THEN
                      CASE WHEN json_type(job.params, '$.loras') = 'array'
                           THEN json_extract(job.params, '$.loras') END END) AS item
    WHERE job.status IN :active
      AND item.type = 'object'
      AND json_extract(item.value, '$.lora') = :name
    ORDER BY job.id
""").bindparams(bindparam("active", expanding=True))


def jobs_using_lora(engine: Engine, name: str) -> list[str]:
    """The ids of the pending, queued or running jobs that name `name` (as written) among their `loras`."""
    with engine.connect() as connection:
        return list(connection.execute(_USING, {"active": list(ACTIVE), "name": name}).scalars())
