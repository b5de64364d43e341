"""event stream: events.project, events.project_seq and events.operation (stamped in commit
order, engine.store.event_log), event_sequences (a project's last number) and event_cursors
(how far each consumer has delivered); events already stored are numbered in their order

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch_op:
        batch_op.add_column(sa.Column("project", sa.String(64), nullable=True))
        batch_op.add_column(sa.Column("project_seq", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("operation", sa.String(64), nullable=True))
    op.create_table(
        "event_sequences",
        sa.Column("project", sa.String(64), primary_key=True),
        sa.Column("last", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "event_cursors",
        sa.Column("consumer", sa.String(255), primary_key=True),
        sa.Column("project", sa.String(64), primary_key=True),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    # The events stored before: numbered per project in the order they were stored.
    op.execute(
        """
        UPDATE events SET project = numbered.project, project_seq = numbered.n
        FROM (
            SELECT events.seq AS seq, stacks.project AS project,
                   row_number() OVER (PARTITION BY stacks.project ORDER BY events.seq) AS n
            FROM events JOIN stacks ON stacks.id = events.stack_id
        ) AS numbered
        WHERE events.seq = numbered.seq
        """
    )
    op.execute(
        """
        INSERT INTO event_sequences (project, last)
        SELECT project, max(project_seq) FROM events WHERE project IS NOT NULL GROUP BY project
        """
    )
    op.create_index("ux_events_project_seq", "events", ["project", "project_seq"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_events_project_seq", table_name="events")
    op.drop_table("event_cursors")
    op.drop_table("event_sequences")
    with op.batch_alter_table("events") as batch_op:
        batch_op.drop_column("operation")
        batch_op.drop_column("project_seq")
        batch_op.drop_column("project")
