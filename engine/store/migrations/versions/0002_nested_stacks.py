"""nested stacks, tags, rollback and scheduler bookkeeping

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("resources", schema=None) as batch_op:
        batch_op.add_column(sa.Column("engine", sa.JSON(), nullable=False, server_default="{}"))

    with op.batch_alter_table("stacks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_resource", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("tags", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("previous", sa.JSON(), nullable=True))
        batch_op.create_index(batch_op.f("ix_stacks_owner_id"), ["owner_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("stacks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stacks_owner_id"))
        batch_op.drop_column("previous")
        batch_op.drop_column("tags")
        batch_op.drop_column("owner_resource")

    with op.batch_alter_table("resources", schema=None) as batch_op:
        batch_op.drop_column("engine")
