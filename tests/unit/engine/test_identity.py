"""engine.identity on a real store: tokens (hashed, expiring, revocable), roles, the first-start
bootstrap and its token file, and delegations; plus an engine restart that must not resume work
whose delegation was revoked."""

from __future__ import annotations

import datetime as dt
import stat

import pytest
import requests
from sqlalchemy import select

from engine import identity
from engine.errors import Forbidden, Unauthorized
from engine.service import build_service
from engine.store.crypto import hash_secret
from engine.store.db import Store
from engine.store.models import ApiToken, Stack
from tests.support import AUTH, settle, start_server, stop_server

NOW = dt.datetime(2026, 11, 22, 12, 0, 0)  # noqa: DTZ001 - naive UTC, as the store keeps times


@pytest.fixture
def store(tmp_path):
    store = Store(f"sqlite:///{tmp_path}/i.db")
    store.migrate()
    yield store
    store.dispose()


def test_tokens_are_stored_hashed_and_refused_when_expired_revoked_or_disabled(store):
    with store.session() as session:
        user = identity.create_user(session, "ann", NOW)
        token, secret = identity.issue_token(session, user, NOW, expires_at=NOW + dt.timedelta(hours=1))
        token_id = token.id
    with store.session() as session:
        row = session.get(ApiToken, token_id)
        assert row.secret_hash == hash_secret(secret) and secret not in str(vars(row))
        assert identity.authenticate(session, secret, NOW).user_name == "ann"
        for presented, when in ((secret, NOW + dt.timedelta(hours=1)), ("hat_wrong", NOW), (None, NOW)):
            with pytest.raises(Unauthorized):
                identity.authenticate(session, presented, when)
        identity.revoke_token(session, token_id, NOW)
        with pytest.raises(Unauthorized, match="unknown, expired or revoked"):
            identity.authenticate(session, secret, NOW)


def test_roles_decide_methods_and_the_cloud_admin_acts_everywhere():
    reader = identity.Principal("u", "rita", "t", {"p": "reader"})
    member = identity.Principal("u", "mo", "t", {"p": "member"})
    cloud = identity.Principal("u", "root", "t", {"admin": "admin"})
    assert identity.authorize(reader, "p", "GET") == "reader"
    with pytest.raises(Forbidden, match="may only read"):
        identity.authorize(reader, "p", "POST")
    assert identity.authorize(member, "p", "DELETE") == "member"
    with pytest.raises(Forbidden, match="needs the admin role"):
        identity.authorize(member, "p", "POST", admin_only=True)
    with pytest.raises(Forbidden, match="no role in project 'q'"):
        identity.authorize(member, "q", "GET")
    assert identity.authorize(cloud, "anything", "POST", admin_only=True) == "admin"
    with pytest.raises(Forbidden):
        identity.require_cloud_admin(member)


def test_first_start_writes_a_private_token_file_once_and_reregisters_it(store, tmp_path):
    data = tmp_path / "data"
    with store.session() as session:
        written = identity.bootstrap(session, str(data), NOW)
    assert written == str(data / "admin-token")
    assert stat.S_IMODE((data / "admin-token").stat().st_mode) == 0o600
    secret = (data / "admin-token").read_text().strip()
    with store.session() as session:
        assert identity.authenticate(session, secret, NOW).cloud_admin
        assert identity.bootstrap(session, str(data), NOW) is None  # idempotent
    with store.session() as session:
        assert len(list(session.scalars(select(ApiToken)))) == 1
    # A fresh store with the old file: the file's token is registered again.
    fresh = Store(f"sqlite:///{tmp_path}/fresh.db")
    fresh.migrate()
    with fresh.session() as session:
        assert identity.bootstrap(session, str(data), NOW) is None
    with fresh.session() as session:
        assert identity.authenticate(session, secret, NOW).user_name == "admin"
    fresh.dispose()


def test_a_given_admin_token_is_registered_once_and_a_revoked_one_stays_revoked(store, tmp_path):
    for _ in range(2):
        with store.session() as session:
            assert identity.bootstrap(session, str(tmp_path / "d"), NOW, admin_token="hat_given") is None
    assert not (tmp_path / "d" / "admin-token").exists()
    with store.session() as session:
        (token,) = session.scalars(select(ApiToken))
        identity.revoke_token(session, token.id, NOW)
    with store.session() as session:
        identity.bootstrap(session, str(tmp_path / "d"), NOW, admin_token="hat_given")
    with store.session() as session, pytest.raises(Unauthorized):
        identity.authenticate(session, "hat_given", NOW)


def test_a_nested_stack_follows_its_root_stack_delegation(store):
    with store.session() as session:
        for sid, owner in (("root", None), ("child", "root")):
            session.add(
                Stack(
                    id=sid,
                    name=sid,
                    project="p",
                    action="CREATE",
                    status="IN_PROGRESS",
                    template={},
                    timeout_mins=1,
                    created_at=NOW,
                    owner_id=owner,
                )
            )
        principal = identity.Principal("u", "ann", "t", {"p": "member"})
        identity.delegate(session, principal, "p", "root", NOW)
    with store.session() as session:
        child = session.get(Stack, "child")
        assert not identity.delegation_revoked(session, child)
        assert identity.revoke_delegations(session, "root", NOW)
    with store.session() as session:
        assert identity.delegation_revoked(session, session.get(Stack, "child"))
        # A stack that never had a delegation (made through the engine directly) is not refused.
        session.add(
            Stack(
                id="bare",
                name="bare",
                project="p",
                action="CREATE",
                status="IN_PROGRESS",
                template={},
                timeout_mins=1,
                created_at=NOW,
            )
        )
        session.flush()
        assert not identity.delegation_revoked(session, session.get(Stack, "bare"))


NOOP = "heat_template_version: 2018-08-31\nresources:\n  nothing: {type: OS::Heat::None}\n"
WAITING = """heat_template_version: 2018-08-31
parameters:
  timeout: {type: number}
resources:
  handle: {type: OS::Heat::WaitConditionHandle}
  wait: {type: OS::Heat::WaitCondition, properties: {handle: {get_resource: handle}, timeout: {get_param: timeout}}}
"""


def _create_and_stop(tmp_path, name: str, timeout: int, revoke: bool):
    """Create a waiting stack over HTTP (recording its delegation), optionally revoke the
    delegation through the admin API, and stop the server while the stack is in progress."""
    server = start_server(tmp_path)
    try:
        server.create_stack(name, WAITING, parameters={"timeout": timeout})
        stack = server.stack(name)
        assert stack["stack_status"] == "CREATE_IN_PROGRESS"
        (delegation,) = requests.get(
            f"{server.url}/admin/v1/delegations?stack_id={stack['id']}", headers=AUTH, timeout=30
        ).json()["delegations"]
        if revoke:
            answer = requests.delete(f"{server.url}/admin/v1/delegations/{delegation['id']}", headers=AUTH, timeout=30)
            assert answer.status_code == 204
    finally:
        stop_server(server)
    return server.config, stack["id"]


def _restart(config, stack_id):
    service = build_service(config)
    service.start()
    try:
        return settle(service, stack_id)
    finally:
        service.stop()
        service.runtime.store.dispose()


def test_a_resumed_operation_fails_when_its_delegation_was_revoked(tmp_path):
    config, stack_id = _create_and_stop(tmp_path, "revoked", 600, revoke=True)
    stack = _restart(config, stack_id)
    assert stack["stack_status"] == "CREATE_FAILED"
    assert stack["stack_status_reason"] == "delegation revoked"


def test_a_resumed_operation_with_a_live_delegation_is_driven_on(tmp_path):
    config, stack_id = _create_and_stop(tmp_path, "live", 1, revoke=False)
    stack = _restart(config, stack_id)  # the engine acts: the wait condition times out
    assert stack["stack_status"] == "CREATE_FAILED"
    assert "delegation" not in stack["stack_status_reason"]
    assert "tim" in stack["stack_status_reason"].lower()


def test_a_delete_resumes_although_its_delegation_is_revoked(tmp_path):
    """The crash in the middle of a delete is simulated by setting the stored stack to
    DELETE_IN_PROGRESS while the server is down (a delete was asked for by its user)."""
    server = start_server(tmp_path)
    try:
        server.create_stack("gone", NOOP)
        stack = server.wait_stack("gone", ("CREATE_COMPLETE",))
        assert stack["stack_status"] == "CREATE_COMPLETE"
    finally:
        stop_server(server)
    store = Store(server.config.resolved_db_url)
    with store.session() as session:
        row = session.get(Stack, stack["id"])
        row.action, row.status, row.operation = "DELETE", "IN_PROGRESS", row.operation + 1
        row.deadline = NOW + dt.timedelta(days=3650)
        assert identity.revoke_delegations(session, stack["id"], NOW)
    store.dispose()
    result = _restart(server.config, stack["id"])
    assert result["stack_status"] == "DELETE_COMPLETE", result["stack_status_reason"]
