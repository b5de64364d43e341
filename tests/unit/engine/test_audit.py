"""The audit log (engine.audit) and the identity migration, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import inspect

from engine import audit
from engine.store.db import Store

NOW = dt.datetime(2026, 11, 22, 12, 0, 0)  # noqa: DTZ001 - naive UTC, as the store keeps times


@pytest.fixture
def store(db_url):
    store = Store(db_url)
    store.migrate()
    yield store
    store.dispose()


def test_migration_creates_identity_tables(store):
    tables = set(inspect(store.engine).get_table_names())
    assert {"projects", "users", "memberships", "api_tokens", "delegations", "audit_events"} <= tables
    store.migrate()  # idempotent


def test_record_and_list_newest_first_with_filters_and_marker(store):
    with store.session() as session:
        for i in range(5):
            audit.record(
                session,
                action="auth.failed" if i % 2 else "token.create",
                actor=f"a{i}",
                subject="s",
                detail={"n": i},
                remote_addr="127.0.0.1",
                now=NOW + dt.timedelta(minutes=i),
            )
    with store.session() as session:
        events = audit.list_events(session)
        assert [e.actor for e in events] == ["a4", "a3", "a2", "a1", "a0"]
        failed = audit.list_events(session, action="auth.failed")
        assert [e.actor for e in failed] == ["a3", "a1"]
        page = audit.list_events(session, limit=2)
        assert [e.actor for e in page] == ["a4", "a3"]
        rest = audit.list_events(session, limit=2, marker=page[-1].id)
        assert [e.actor for e in rest] == ["a2", "a1"]
        recent = audit.list_events(session, since=NOW + dt.timedelta(minutes=3))
        assert [e.actor for e in recent] == ["a4", "a3"]
        assert audit.as_dict(events[0])["detail"] == {"n": 4}


def test_record_refuses_secret_looking_detail(store):
    with store.session() as session, pytest.raises(ValueError, match="never hold secrets"):
        audit.record(session, action="x", actor="a", detail={"token": "abc"}, now=NOW)


def test_token_actor_never_holds_the_token():
    token = "hat_" + "x" * 40
    assert audit.token_actor(None) == "anonymous"
    actor = audit.token_actor(token)
    assert token not in actor and len(actor) < 16
