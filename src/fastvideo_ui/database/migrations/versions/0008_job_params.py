"""One JSON column for the per-job fields added from now on (spec.fields:
storage="json"), so a new field needs no migration of its own. The fields
before it keep their columns; an existing row's `params` is empty, and each
key it lacks reads as that field's default.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("params", sa.Text(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("params")
