"""deployment traces: when each deployment entry of an operation was committed, delivered to its
server, started and finished (convergence tracing)

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deployment_traces",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("deployment_id", sa.String(36), nullable=False),
        sa.Column("server_id", sa.String(36), nullable=False),
        sa.Column("project", sa.String(64), nullable=False),
        sa.Column("stack_id", sa.String(36), nullable=True),
        sa.Column("root_id", sa.String(36), nullable=True),
        sa.Column("resource_name", sa.String(255), nullable=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("operation", sa.String(80), nullable=True),
        sa.Column("metadata_version", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("committed_at", sa.DateTime(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_deployment_traces_deployment_id", "deployment_traces", ["deployment_id"])
    op.create_index("ix_deployment_traces_root_id", "deployment_traces", ["root_id"])
    op.create_index("ix_deployment_traces_operation", "deployment_traces", ["operation"])
    op.create_index("ix_deployment_traces_server_pending", "deployment_traces", ["server_id", "delivered_at"])


def downgrade() -> None:
    op.drop_index("ix_deployment_traces_server_pending", table_name="deployment_traces")
    op.drop_index("ix_deployment_traces_operation", table_name="deployment_traces")
    op.drop_index("ix_deployment_traces_root_id", table_name="deployment_traces")
    op.drop_index("ix_deployment_traces_deployment_id", table_name="deployment_traces")
    op.drop_table("deployment_traces")
