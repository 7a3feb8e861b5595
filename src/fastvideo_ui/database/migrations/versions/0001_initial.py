"""The first schema: the jobs table.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("model_id", sa.String(200), nullable=False),
        sa.Column("prompt", sa.Text, nullable=False),
        sa.Column("negative_prompt", sa.Text, nullable=False, server_default=""),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("num_inference_steps", sa.Integer, nullable=False),
        sa.Column("num_frames", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("guidance_scale", sa.Float, nullable=False),
        sa.Column("seed", sa.Integer, nullable=False),
        sa.Column("fps", sa.Integer, nullable=False),
        sa.Column("num_gpus", sa.Integer, nullable=False),
        sa.Column("dit_cpu_offload", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("text_encoder_cpu_offload", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("vae_cpu_offload", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("use_fsdp_inference", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("queued_at", sa.Float, nullable=True),
        sa.Column("started_at", sa.Float, nullable=True),
        sa.Column("finished_at", sa.Float, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("output_path", sa.Text, nullable=True),
        sa.Column("poster_path", sa.Text, nullable=True),
        sa.Column("log_file_path", sa.Text, nullable=True),
        sa.Column("devices", sa.String(200), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("progress", sa.Float, nullable=False, server_default="0"),
        sa.Column("progress_msg", sa.Text, nullable=False, server_default=""),
        sa.Column("phase", sa.String(32), nullable=False, server_default=""),
        sa.Column("step", sa.Integer, nullable=True),
        sa.Column("total_steps", sa.Integer, nullable=True),
        sa.Column("eta_seconds", sa.Float, nullable=True),
    )
    op.create_index("ix_jobs_created", "jobs", ["created_at", "id"])
    op.create_index("ix_jobs_status_created", "jobs", ["status", "created_at", "id"])
    op.create_index("ix_jobs_status_queued", "jobs", ["status", "queued_at", "id"])


def downgrade() -> None:
    op.drop_table("jobs")
