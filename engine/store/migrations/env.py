"""Alembic environment: runs migrations on the connection the Store hands over."""

from alembic import context

from engine.store.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # the alembic command line, for autogenerate
    from sqlalchemy import create_engine

    # The alembic command line names the database (sqlalchemy.url); without it, create_engine
    # raises ArgumentError on None, which says so.
    connection = create_engine(config.get_main_option("sqlalchemy.url")).connect()  # type: ignore[arg-type]

context.configure(
    connection=connection, target_metadata=Base.metadata, render_as_batch=connection.dialect.name == "sqlite"
)
with context.begin_transaction():
    context.run_migrations()
