"""metric_samples: measurements servers report (the native guest endpoint, CloudWatch
PutMetricData), read by the alarms Hearth evaluates; kept for a bounded time

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metric_samples",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("project", sa.String(64), nullable=False),
        sa.Column("server_id", sa.String(36), nullable=True),
        sa.Column("namespace", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("unit", sa.String(32), nullable=True),
        sa.Column("dimensions", sa.JSON(), nullable=False),
        sa.Column("timestamp", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_metric_samples_project_name_time", "metric_samples", ["project", "name", "timestamp"])
    op.create_index("ix_metric_samples_server_id", "metric_samples", ["server_id"])
    op.create_index("ix_metric_samples_timestamp", "metric_samples", ["timestamp"])


def downgrade() -> None:
    op.drop_index("ix_metric_samples_timestamp", "metric_samples")
    op.drop_index("ix_metric_samples_server_id", "metric_samples")
    op.drop_index("ix_metric_samples_project_name_time", "metric_samples")
    op.drop_table("metric_samples")
