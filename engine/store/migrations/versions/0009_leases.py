"""leases: which engine replica drives each stack operation, until when (many replicas on one
database); stacks.status indexed for the replicas' look for operations nobody drives

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("acquired_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_stacks_status", "stacks", ["status"])


def downgrade() -> None:
    op.drop_index("ix_stacks_status", "stacks")
    op.drop_table("leases")
