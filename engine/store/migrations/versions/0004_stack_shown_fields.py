"""stacks: the user who made a stack and the timeout it was given, as Heat's stack show answers them

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stacks") as batch:
        batch.add_column(sa.Column("username", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("requested_timeout_mins", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("stacks") as batch:
        batch.drop_column("requested_timeout_mins")
        batch.drop_column("username")
