"""The run time the scheduler expected of a job's latest run, where that
estimate came from (jobs/estimates.py: the same shape, scaled from the model's
other runs, from another model's, or a prior), and the seconds per denoising
step its latest completed run took, which later estimates scale by. Jobs run
before it have none of the three.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("estimate_seconds", sa.Float(), nullable=True))
        batch.add_column(sa.Column("estimate_source", sa.String(16), nullable=True))
        batch.add_column(sa.Column("step_seconds", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("step_seconds")
        batch.drop_column("estimate_source")
        batch.drop_column("estimate_seconds")
