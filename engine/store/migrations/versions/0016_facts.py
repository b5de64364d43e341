"""facts: fact_scopes (a stack tree's index, pending re-runs and their budget) and facts (its
keys and JSON values, with tombstones; engine/facts/)

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fact_scopes",
        sa.Column("root_id", sa.String(36), primary_key=True),
        sa.Column("project", sa.String(64), nullable=False),
        sa.Column("last_index", sa.BigInteger(), nullable=False),
        sa.Column("purged_index", sa.BigInteger(), nullable=False),
        sa.Column("pending_keys", sa.JSON(), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=True),
        sa.Column("pending_since", sa.DateTime(), nullable=True),
        sa.Column("reruns", sa.JSON(), nullable=False),
    )
    op.create_index("ix_fact_scopes_changed_at", "fact_scopes", ["changed_at"])
    op.create_table(
        "facts",
        sa.Column("root_id", sa.String(36), primary_key=True),
        sa.Column("key", sa.String(512), primary_key=True),
        sa.Column("value", sa.JSON(), nullable=True),
        sa.Column("create_index", sa.BigInteger(), nullable=False),
        sa.Column("modify_index", sa.BigInteger(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("writer", sa.String(36), nullable=True),
        sa.Column("bound", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_facts_writer", "facts", ["writer"])


def downgrade() -> None:
    op.drop_index("ix_facts_writer", table_name="facts")
    op.drop_table("facts")
    op.drop_index("ix_fact_scopes_changed_at", table_name="fact_scopes")
    op.drop_table("fact_scopes")
