"""event sinks: event_sinks (each top-level stack's sinks, their settings sealed, the state of
the event at the head of each one's stream) and event_dead_letters (events a sink gave up on)

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_sinks",
        sa.Column("consumer", sa.String(255), primary_key=True),
        sa.Column("stack_id", sa.String(36), nullable=False),
        sa.Column("project", sa.String(64), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("last_error_at", sa.DateTime(), nullable=True),
        sa.Column("delivered", sa.BigInteger(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_event_sinks_stack_id", "event_sinks", ["stack_id"])
    op.create_index("ix_event_sinks_state", "event_sinks", ["state"])
    op.create_table(
        "event_dead_letters",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("consumer", sa.String(255), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("failed_at", sa.DateTime(), nullable=False),
        sa.Column("replay", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("consumer", "sequence", name="uq_event_dead_letters_consumer_sequence"),
    )
    op.create_index("ix_event_dead_letters_consumer", "event_dead_letters", ["consumer"])


def downgrade() -> None:
    op.drop_index("ix_event_dead_letters_consumer", table_name="event_dead_letters")
    op.drop_table("event_dead_letters")
    op.drop_index("ix_event_sinks_state", table_name="event_sinks")
    op.drop_index("ix_event_sinks_stack_id", table_name="event_sinks")
    op.drop_table("event_sinks")
