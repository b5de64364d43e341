"""stacks: when a stack's resources were all deleted by the rollback of its create, which Heat
shows as the stack's deletion_time although the stack stays

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
    with op.batch_alter_table("stacks") as batch:
        batch.add_column(sa.Column("resources_deleted_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("stacks") as batch:
        batch.drop_column("resources_deleted_at")
