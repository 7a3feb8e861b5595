"""The tables. Their history lives in `database/migrations`; change both together."""

from __future__ import annotations

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class JobRow(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    model_id: Mapped[str] = mapped_column(String(200))
    prompt: Mapped[str] = mapped_column(Text)
    negative_prompt: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16))

    num_inference_steps: Mapped[int] = mapped_column(Integer)
    num_frames: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    guidance_scale: Mapped[float] = mapped_column(Float)
    seed: Mapped[int] = mapped_column(Integer)
    fps: Mapped[int] = mapped_column(Integer)
    num_gpus: Mapped[int] = mapped_column(Integer)
    dit_cpu_offload: Mapped[bool] = mapped_column(Boolean, default=False)
    text_encoder_cpu_offload: Mapped[bool] = mapped_column(Boolean, default=False)
    vae_cpu_offload: Mapped[bool] = mapped_column(Boolean, default=False)
    use_fsdp_inference: Mapped[bool] = mapped_column(Boolean, default=False)
    dit_layerwise_offload: Mapped[bool] = mapped_column(Boolean, default=True)

    created_at: Mapped[float] = mapped_column(Float)
    queued_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    started_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    output_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    poster_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    log_file_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    devices: Mapped[str | None] = mapped_column(String(200), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The latest run's model load; None: its worker already held the model.
    load_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Queue order: higher priority first, then lower rank (the time it was
    # queued, unless it was moved).
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    queue_rank: Mapped[float | None] = mapped_column(Float, nullable=True)
    held: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    retry_on_oom: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    progress: Mapped[float] = mapped_column(Float, default=0.0)
    progress_msg: Mapped[str] = mapped_column(Text, default="")
    phase: Mapped[str] = mapped_column(String(32), default="")
    step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    total_steps: Mapped[int | None] = mapped_column(Integer, nullable=True)
    eta_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    # The job this one was remixed from (POST /v1/videos/{id}/remix), and where
    # its events are posted (else the server's --webhook-url).
    remixed_from: Mapped[str | None] = mapped_column(String(36), nullable=True)
    webhook_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The input image of an image-to-video job: an upload's id (jobs/uploads.py).
    image: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (
        Index("ix_jobs_created", "created_at", "id"),
        Index("ix_jobs_status_created", "status", "created_at", "id"),
        Index("ix_jobs_queue", "status", "priority", "queue_rank", "id"),
        Index("ix_jobs_image", "image"),
    )


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
