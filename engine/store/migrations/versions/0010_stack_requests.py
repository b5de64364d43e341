"""stack_requests: a cancel or a cleared breakpoint asked of a stack's operation in progress,
kept until the replica that drives the operation has seen it (messages between replicas may be
missed, and the replica that heard one may die)

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
    op.create_table(
        "stack_requests",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("stack_id", sa.String(36), nullable=False),
        sa.Column("operation", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(600), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("stack_id", "operation", "key"),
    )
    op.create_index("ix_stack_requests_stack_id", "stack_requests", ["stack_id"])


def downgrade() -> None:
    op.drop_index("ix_stack_requests_stack_id", "stack_requests")
    op.drop_table("stack_requests")
