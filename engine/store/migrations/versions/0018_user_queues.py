"""user queues: user_queues (a project's own Zaqar queues) and user_queue_messages (their
messages, with ttl and expiry), which people read with Zaqar's clients and event sinks fill

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_queues",
        sa.Column("project", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "user_queue_messages",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(32), nullable=False, unique=True),
        sa.Column("project", sa.String(64), nullable=False),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("ttl", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(36), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_user_queue_messages_queue", "user_queue_messages", ["project", "queue", "seq"])
    op.create_index("ix_user_queue_messages_expires_at", "user_queue_messages", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_user_queue_messages_expires_at", table_name="user_queue_messages")
    op.drop_index("ix_user_queue_messages_queue", table_name="user_queue_messages")
    op.drop_table("user_queue_messages")
    op.drop_table("user_queues")
