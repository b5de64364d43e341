"""The migrations on real stores: they build exactly the schema the models declare (so a model
change without its migration, or the reverse, fails here), and 0013 numbers the events stored
before it in each project's stream."""

from __future__ import annotations

import datetime as dt

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from sqlalchemy import text

from engine.store.db import MIGRATIONS, Store
from engine.store.models import Base


def _alembic(connection) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def test_the_migrations_build_the_models_schema(db_url):
    store = Store(db_url)
    try:
        store.migrate()
        with store.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        store.dispose()


def test_events_stored_before_the_stream_are_numbered_per_project(db_url):
    store = Store(db_url)
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC).replace(tzinfo=None)  # stored naive, in UTC
    try:
        with store.engine.begin() as connection:
            command.upgrade(_alembic(connection), "0012")
            for stack, project in (("s1", "p1"), ("s2", "p2"), ("s3", "p1")):
                connection.execute(
                    text(
                        "INSERT INTO stacks (id, name, project, action, status, status_reason, description,"
                        " template, template_name, files, environment, parameters, timeout_mins,"
                        " disable_rollback, operation, tags, created_at)"
                        " VALUES (:id, :id, :project, 'CREATE', 'COMPLETE', '', '', '{}', 't', '{}', '{}', '{}',"
                        " 60, true, 1, '[]', :now)"
                    ),
                    {"id": stack, "project": project, "now": now},
                )
            for n, stack in enumerate(["s1", "s2", "s3", "s1", "s2"]):
                connection.execute(
                    text(
                        "INSERT INTO events (id, stack_id, resource_name, resource_type, action, status, reason,"
                        " created_at) VALUES (:id, :stack, 'r', 't', 'CREATE', 'COMPLETE', '', :now)"
                    ),
                    {"id": f"e{n}", "stack": stack, "now": now},
                )
        store.migrate()
        with store.engine.connect() as connection:
            rows = connection.execute(text("SELECT id, project, project_seq FROM events ORDER BY seq")).all()
            last = dict(connection.execute(text("SELECT project, last FROM event_sequences")).all())
        assert [tuple(r) for r in rows] == [
            ("e0", "p1", 1),
            ("e1", "p2", 1),
            ("e2", "p1", 2),
            ("e3", "p1", 3),
            ("e4", "p2", 2),
        ]
        assert last == {"p1": 3, "p2": 2}
    finally:
        store.dispose()
