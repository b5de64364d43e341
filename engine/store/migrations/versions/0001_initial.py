"""initial schema

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "credentials",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("stack_id", sa.String(length=36), nullable=True),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("secret_hash"),
    )
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_credentials_stack_id"), ["stack_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_credentials_subject_id"), ["subject_id"], unique=False)

    op.create_table(
        "events",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("stack_id", sa.String(length=36), nullable=False),
        sa.Column("resource_name", sa.String(length=255), nullable=False),
        sa.Column("resource_type", sa.String(length=255), nullable=False),
        sa.Column("physical_id", sa.String(length=255), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_stack_seq", ["stack_id", "seq"], unique=False)

    op.create_table(
        "handle_signals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("handle_id", sa.String(length=36), nullable=False),
        sa.Column("signal_id", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("handle_id", "signal_id"),
    )
    with op.batch_alter_table("handle_signals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_handle_signals_handle_id"), ["handle_id"], unique=False)

    op.create_table(
        "servers",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("stack_id", sa.String(length=36), nullable=True),
        sa.Column("resource_name", sa.String(length=255), nullable=True),
        sa.Column("project", sa.String(length=64), nullable=False),
        sa.Column("driver", sa.String(length=32), nullable=False),
        sa.Column("driver_data", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("metadata_doc", sa.JSON(), nullable=False),
        sa.Column("metadata_version", sa.Integer(), nullable=False),
        sa.Column("first_contact_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("servers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_servers_stack_id"), ["stack_id"], unique=False)

    op.create_table(
        "software_configs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("group", sa.String(length=255), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("project", sa.String(length=64), nullable=False),
        sa.Column("deployment_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("software_configs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_software_configs_deployment_id"), ["deployment_id"], unique=False)

    op.create_table(
        "software_deployments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("config_id", sa.String(length=36), nullable=True),
        sa.Column("server_id", sa.String(length=36), nullable=False),
        sa.Column("stack_id", sa.String(length=36), nullable=True),
        sa.Column("resource_name", sa.String(length=255), nullable=True),
        sa.Column("project", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=False),
        sa.Column("input_values", sa.JSON(), nullable=False),
        sa.Column("output_values", sa.JSON(), nullable=False),
        sa.Column("progress", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("software_deployments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_software_deployments_config_id"), ["config_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_software_deployments_server_id"), ["server_id"], unique=False)

    op.create_table(
        "stacks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("project", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("template", sa.JSON(), nullable=False),
        sa.Column("template_source", sa.Text(), nullable=True),
        sa.Column("template_name", sa.String(length=255), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("environment", sa.JSON(), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("timeout_mins", sa.Float(), nullable=False),
        sa.Column("disable_rollback", sa.Boolean(), nullable=False),
        sa.Column("deadline", sa.DateTime(), nullable=True),
        sa.Column("operation", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("stacks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stacks_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_stacks_project"), ["project"], unique=False)

    op.create_table(
        "resources",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("stack_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=False),
        sa.Column("physical_id", sa.String(length=255), nullable=True),
        sa.Column("requires", sa.JSON(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("waiting", sa.Boolean(), nullable=False),
        sa.Column("deadline", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["stack_id"],
            ["stacks.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("stack_id", "name"),
    )
    with op.batch_alter_table("resources", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_resources_physical_id"), ["physical_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_resources_stack_id"), ["stack_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("resources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_resources_stack_id"))
        batch_op.drop_index(batch_op.f("ix_resources_physical_id"))

    op.drop_table("resources")
    with op.batch_alter_table("stacks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stacks_project"))
        batch_op.drop_index(batch_op.f("ix_stacks_name"))

    op.drop_table("stacks")
    with op.batch_alter_table("software_deployments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_software_deployments_server_id"))
        batch_op.drop_index(batch_op.f("ix_software_deployments_config_id"))

    op.drop_table("software_deployments")
    with op.batch_alter_table("software_configs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_software_configs_deployment_id"))

    op.drop_table("software_configs")
    with op.batch_alter_table("servers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_servers_stack_id"))

    op.drop_table("servers")
    with op.batch_alter_table("handle_signals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_handle_signals_handle_id"))

    op.drop_table("handle_signals")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_stack_seq")

    op.drop_table("events")
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credentials_subject_id"))
        batch_op.drop_index(batch_op.f("ix_credentials_stack_id"))

    op.drop_table("credentials")
