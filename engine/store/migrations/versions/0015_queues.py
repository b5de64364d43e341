"""zaqar_queues: each ZAQAR_MESSAGE server's queue and the metadata version its collector last
popped (the `popped` progress event is written once per version across replicas)

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "zaqar_queues",
        sa.Column("server_id", sa.String(36), primary_key=True),
        sa.Column("project", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("popped_version", sa.Integer(), nullable=False),
        sa.Column("popped_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("zaqar_queues")
