"""A job's input image (an upload's id), for image-to-video.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("image", sa.String(64), nullable=True))
    op.create_index("ix_jobs_image", "jobs", ["image"])


def downgrade() -> None:
    op.drop_index("ix_jobs_image", "jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("image")
