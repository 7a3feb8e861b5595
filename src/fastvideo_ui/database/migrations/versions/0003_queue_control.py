"""Queue control: priority, an explicit queue order, hold, retry on OOM, and a
table for server-wide state (whether the queue is paused).

Jobs already queued keep their order: their rank is the time they were queued.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("priority", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("queue_rank", sa.Float, nullable=True))
        batch.add_column(sa.Column("held", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("retry_on_oom", sa.Boolean, nullable=False, server_default=sa.false()))
    op.execute("UPDATE jobs SET queue_rank = queued_at WHERE status = 'queued'")
    op.drop_index("ix_jobs_status_queued", "jobs")
    op.create_index("ix_jobs_queue", "jobs", ["status", "priority", "queue_rank", "id"])
    op.create_table(
        "server_state",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("server_state")
    op.drop_index("ix_jobs_queue", "jobs")
    op.create_index("ix_jobs_status_queued", "jobs", ["status", "queued_at", "id"])
    with op.batch_alter_table("jobs") as batch:
        for name in ("retry_on_oom", "held", "queue_rank", "priority"):
            batch.drop_column(name)
