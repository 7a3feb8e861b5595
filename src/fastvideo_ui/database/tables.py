"""The tables. Their history lives in `database/migrations`; change both together."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, false, true
from sqlalchemy.orm import DeclarativeBase, Mapped, MappedColumn, mapped_column
from sqlalchemy.types import TypeEngine

from ..spec.fields import FIELDS, FieldSpec


class Base(DeclarativeBase):
    pass


def sql_type(f: FieldSpec) -> TypeEngine[Any]:
    """A spec field's column type: String(n) with a `sql_length`, else by its Python type."""
    kind = f.base_type
    if kind is str:
        return String(f.sql_length) if f.sql_length else Text()
    types: dict[type, TypeEngine[Any]] = {bool: Boolean(), int: Integer(), float: Float()}
    return types[kind]


def _column(f: FieldSpec) -> MappedColumn[Any]:
    if f.server_default is None:
        return mapped_column(sql_type(f), nullable=f.nullable)
    value = f.server_default
    server = (true() if value else false()) if isinstance(value, bool) else str(value)
    return mapped_column(sql_type(f), nullable=f.nullable, default=value, server_default=server)


# The per-job fields stored in columns of their own, derived from the spec: a field added since
# migration 0008 is a key of `params` instead (database/layout.py), so it needs no migration. mypy
# sees an Any base (typed access goes through spec.rules.params_of's JobParams).
JobFields: Any = type("JobFields", (), {f.name: _column(f) for f in FIELDS if f.storage == "column"})


class JobRow(JobFields, Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))

    created_at: Mapped[float] = mapped_column(Float)
    queued_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    started_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    output_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    poster_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    log_file_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    devices: Mapped[str | None] = mapped_column(String(200), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The latest run's model load; None: its worker already held the model.
    load_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    # What the scheduler expected of the latest run, and from what (jobs/estimates.py; migration 0010).
    estimate_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    estimate_source: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # Its latest completed run's seconds per denoising step, as its progress measured them (migration 0010).
    step_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Queue order: higher priority first, then lower rank (the time it was
    # queued, unless it was moved).
    queue_rank: Mapped[float | None] = mapped_column(Float, nullable=True)
    held: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    progress: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    progress_msg: Mapped[str] = mapped_column(Text, default="", server_default="")
    phase: Mapped[str] = mapped_column(String(32), default="", server_default="")
    step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    total_steps: Mapped[int | None] = mapped_column(Integer, nullable=True)
    eta_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    # The job this one was remixed from (POST /v1/videos/{id}/remix).
    remixed_from: Mapped[str | None] = mapped_column(String(36), nullable=True)
    # What its latest run warned about, a JSON list of lines (migration 0009).
    warnings: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")
    # The per-job fields with storage="json", as one JSON object (migration 0008); a key it lacks
    # reads as the field's default (spec.rules.params_of, database/layout.py).
    params: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")
    # The sweep that made it, if one did (jobs/sweeps.py; migration 0011): its coords are the sweep's.
    sweep_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    # A user's favourite (POST /api/jobs/{id}/star; migration 0011).
    starred: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    __table_args__ = (
        Index("ix_jobs_created", "created_at", "id"),
        Index("ix_jobs_status_created", "status", "created_at", "id"),
        Index("ix_jobs_queue", "status", "priority", "queue_rank", "id"),
        Index("ix_jobs_sweep", "sweep_id"),
        Index("ix_jobs_starred_created", "starred", "created_at", "id"),
        # Jobs that name an upload, per upload field (an upload no job names is deleted: jobs/uploads.py).
        *(Index(f"ix_jobs_{f.name}", f.name) for f in FIELDS if f.upload and f.storage == "column"),
    )


class SweepRow(Base):
    """A parameter sweep: the cartesian product of its axes over a base create body, as jobs."""

    __tablename__ = "sweeps"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    created_at: Mapped[float] = mapped_column(Float)
    base: Mapped[str] = mapped_column(Text)  # the create body the axes vary, as JSON
    axes: Mapped[str] = mapped_column(Text)  # [[name, [value, ...]], ...] as JSON, in the order given

    __table_args__ = (Index("ix_sweeps_created", "created_at", "id"),)


class SweepCell(Base):
    """One job of a sweep and its coords (a value per axis). It outlives the job: a deleted job's
    cell says so, where the grid would otherwise close up around it."""

    __tablename__ = "sweep_cells"

    sweep_id: Mapped[str] = mapped_column(String(36), ForeignKey("sweeps.id", ondelete="CASCADE"),
                                          primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)  # in the product's (axis) order
    job_id: Mapped[str] = mapped_column(String(36))
    coords: Mapped[str] = mapped_column(Text)  # {axis: value} as JSON


class PresetRow(Base):
    """Named saved settings (a partial create body), optionally for one model."""

    __tablename__ = "presets"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    model_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    values: Mapped[str] = mapped_column(Text)  # {field: value} as JSON
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class ServerState(Base):
    """Server-wide settings that outlive a restart, such as a paused queue."""

    __tablename__ = "server_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class WebhookDelivery(Base):
    """One event to post to one URL, retried until delivered or out of attempts."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)  # job:event:run, so an event is queued once
    job_id: Mapped[str] = mapped_column(String(36), ForeignKey("jobs.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # pending, delivered, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)

    __table_args__ = (
        Index("ix_webhook_deliveries_job", "job_id", "created_at"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )


class WebhookAttempt(Base):
    """One POST of a delivery: what the receiver answered, or why it could not."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(String(80), ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
                                             index=True)
    number: Mapped[int] = mapped_column(Integer)
    at: Mapped[float] = mapped_column(Float)
    duration_ms: Mapped[float] = mapped_column(Float)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class SignInSession(Base):
    """A browser signed in with POST /api/session (auth/sessions.py). Only an
    HMAC of its id is kept, keyed by the API token: the cookie's value is not
    in the database, and a new token leaves every row unmatched."""

    __tablename__ = "sessions"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float, index=True)
