"""Guest credentials (hashed, expiring, revocable) and pre-signed URLs (HMAC over method, path, expiry)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import select

from engine.errors import Forbidden, Unauthorized
from engine.guest import credentials
from engine.store.crypto import Keyring, hash_secret
from engine.store.db import Store
from engine.store.models import Credential

NOW = dt.datetime(2026, 11, 22, 12, 0, 0)  # noqa: DTZ001 - naive UTC, as the store keeps times


@pytest.fixture
def store(tmp_path):
    store = Store(f"sqlite:///{tmp_path}/c.db")
    store.migrate()
    yield store
    store.dispose()


def test_secret_is_stored_only_as_its_hash(store):
    with store.session() as session:
        secret = credentials.issue(session, kind="server", subject_id="s1", stack_id="st", now=NOW, ttl_seconds=60)
    with store.session() as session:
        rows = list(session.scalars(select(Credential)))
    assert len(rows) == 1 and rows[0].secret_hash == hash_secret(secret)
    assert secret not in str([(r.id, r.secret_hash, r.subject_id) for r in rows])
    assert len(secret) > 40


def test_authenticate_accepts_live_and_refuses_expired_revoked_unknown(store):
    with store.session() as session:
        secret = credentials.issue(session, kind="server", subject_id="s1", stack_id="st", now=NOW, ttl_seconds=60)
    with store.session() as session:
        assert credentials.authenticate(session, secret, NOW).subject_id == "s1"
        with pytest.raises(Unauthorized):
            credentials.authenticate(session, secret, NOW + dt.timedelta(seconds=61))
        with pytest.raises(Unauthorized):
            credentials.authenticate(session, "hgs_unknown", NOW)
        with pytest.raises(Unauthorized):
            credentials.authenticate(session, None, NOW)
    with store.session() as session:
        credentials.revoke_stack(session, "st", NOW)
    with store.session() as session, pytest.raises(Unauthorized):
        credentials.authenticate(session, secret, NOW)


def test_require_subject_refuses_another_subject_or_kind(store):
    with store.session() as session:
        secret = credentials.issue(session, kind="server", subject_id="s1", stack_id=None, now=NOW, ttl_seconds=60)
        credential = credentials.authenticate(session, secret, NOW)
        credentials.require_subject(credential, "server", "s1")
        with pytest.raises(Forbidden):
            credentials.require_subject(credential, "server", "s2")
        with pytest.raises(Forbidden):
            credentials.require_subject(credential, "handle", "s1")


def _parts(url):
    query = parse_qs(urlparse(url).query)
    return urlparse(url).path, query["expires"][0], query["signature"][0]


def test_presigned_url_verifies_and_rejects_changes():
    keyring = Keyring("installation-secret")
    expires = int(NOW.replace(tzinfo=dt.UTC).timestamp()) + 600
    path, exp, signature = _parts(credentials.signed_url(keyring, "http://h:1", "POST", "/signal/abc", expires))
    assert path == "/signal/abc"
    credentials.verify_presigned(keyring, ("POST",), path, exp, signature, NOW)
    with pytest.raises(Forbidden, match="signature"):
        credentials.verify_presigned(keyring, ("POST",), "/signal/abd", exp, signature, NOW)
    with pytest.raises(Forbidden, match="signature"):
        credentials.verify_presigned(keyring, ("POST",), path, str(int(exp) + 1), signature, NOW)
    with pytest.raises(Forbidden, match="signature"):
        credentials.verify_presigned(keyring, ("PUT",), path, exp, signature, NOW)
    with pytest.raises(Forbidden, match="signature"):
        credentials.verify_presigned(Keyring("another"), ("POST",), path, exp, signature, NOW)
    with pytest.raises(Forbidden, match="expires"):
        credentials.verify_presigned(keyring, ("POST",), path, "soon", signature, NOW)
    # Found by schemathesis: a non-ASCII signature (from a typed URL) is refused, not a TypeError.
    for typed in ("\u0085", "é" + signature[1:], "\udcff"):
        with pytest.raises(Forbidden, match="signature"):
            credentials.verify_presigned(keyring, ("POST",), path, exp, typed, NOW)


def test_presigned_url_allows_clock_skew_then_expires():
    keyring = Keyring("k")
    expires = int(NOW.replace(tzinfo=dt.UTC).timestamp())
    path, exp, signature = _parts(credentials.signed_url(keyring, "", "POST", "/signal/x", expires))
    within = NOW + credentials.CLOCK_SKEW_ALLOWANCE - dt.timedelta(seconds=1)
    credentials.verify_presigned(keyring, ("POST",), path, exp, signature, within)
    with pytest.raises(Forbidden, match="expired"):
        credentials.verify_presigned(
            keyring, ("POST",), path, exp, signature, NOW + credentials.CLOCK_SKEW_ALLOWANCE + dt.timedelta(seconds=1)
        )


def test_keyring_rotation_decrypts_old_and_encrypts_with_new():
    old = Keyring("old-secret")
    token = old.encrypt("hidden value")
    rotated = Keyring("new-secret,old-secret")
    assert rotated.decrypt(token) == "hidden value"
    assert Keyring("new-secret").decrypt(rotated.encrypt("x")) == "x"
    assert "hidden value" not in str(token)
