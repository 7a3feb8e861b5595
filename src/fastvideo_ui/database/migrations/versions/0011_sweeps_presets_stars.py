"""Comparing: parameter sweeps (a sweep and its cells, each a job with its
coords; a job names its sweep), presets (named saved settings), and a star on
each job.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("sweep_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("starred", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.create_index("ix_jobs_sweep", ["sweep_id"])
        batch.create_index("ix_jobs_starred_created", ["starred", "created_at", "id"])
    op.create_table(
        "sweeps",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("base", sa.Text, nullable=False),
        sa.Column("axes", sa.Text, nullable=False),
    )
    op.create_index("ix_sweeps_created", "sweeps", ["created_at", "id"])
    op.create_table(
        "sweep_cells",
        sa.Column("sweep_id", sa.String(36), sa.ForeignKey("sweeps.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("job_id", sa.String(36), nullable=False),
        sa.Column("coords", sa.Text, nullable=False),
    )
    op.create_table(
        "presets",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("model_id", sa.String(200), nullable=True),
        sa.Column("values", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("presets")
    op.drop_table("sweep_cells")
    op.drop_index("ix_sweeps_created", "sweeps")
    op.drop_table("sweeps")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_starred_created")
        batch.drop_index("ix_jobs_sweep")
        batch.drop_column("starred")
        batch.drop_column("sweep_id")
