"""software_configs: a config made through the API may have no group (Heat shows null)

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("software_configs") as batch:
        batch.alter_column("group", existing_type=sa.String(length=255), nullable=True)


def downgrade() -> None:
    op.execute("""UPDATE software_configs SET "group" = 'Heat::Ungrouped' WHERE "group" IS NULL""")
    with op.batch_alter_table("software_configs") as batch:
        batch.alter_column("group", existing_type=sa.String(length=255), nullable=False)
