"""Guest principals: per-server and per-handle bearer credentials (stored hashed) and pre-signed URLs."""
from __future__ import annotations

import datetime as dt
import uuid
from urllib.parse import urlencode

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.errors import Forbidden, Unauthorized
from engine.store.crypto import Keyring, hash_secret, new_secret
from engine.store.models import Credential

# A pre-signed URL's expiry is checked with this much grace, so a guest whose clock runs
# behind ours (Heat's 15-minute Timestamp check broke on skew) is not refused.
CLOCK_SKEW_ALLOWANCE = dt.timedelta(minutes=15)


def issue(session: Session, *, kind: str, subject_id: str, stack_id: str | None,
          now: dt.datetime, ttl_seconds: int) -> str:
    """Create a credential for one server or one handle; return the secret (kept nowhere)."""
    secret = new_secret("hg" + kind[0] + "_")
    session.add(Credential(id=str(uuid.uuid4()), kind=kind, subject_id=subject_id,
                           stack_id=stack_id, secret_hash=hash_secret(secret),
                           expires_at=now + dt.timedelta(seconds=ttl_seconds), created_at=now))
    return secret


def authenticate(session: Session, secret: str | None, now: dt.datetime) -> Credential:
    """The live credential for `secret`, or Unauthorized (one message for every cause)."""
    if not secret:
        raise Unauthorized("a guest credential is required: send 'Authorization: Bearer <credential>'")
    row = session.scalar(select(Credential).where(Credential.secret_hash == hash_secret(secret)))
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise Unauthorized("the guest credential is unknown, expired or revoked")
    return row


def require_subject(credential: Credential, kind: str, subject_id: str) -> None:
    if credential.kind != kind or credential.subject_id != subject_id:
        raise Forbidden(f"this credential does not grant access to that {kind}")


def revoke_subject(session: Session, subject_id: str, now: dt.datetime) -> None:
    session.execute(update(Credential).where(Credential.subject_id == subject_id,
                                             Credential.revoked_at.is_(None)).values(revoked_at=now))


def revoke_stack(session: Session, stack_id: str, now: dt.datetime) -> None:
    session.execute(update(Credential).where(Credential.stack_id == stack_id,
                                             Credential.revoked_at.is_(None)).values(revoked_at=now))


def presign(keyring: Keyring, base_url: str, method: str, path: str, expires: int) -> str:
    """A URL for `method path` valid until the unix time `expires`, HMAC-signed over all three."""
    signature = keyring.sign(f"{method.upper()}\n{path}\n{expires}")
    return f"{base_url}{path}?{urlencode({'expires': expires, 'signature': signature})}"


def verify_presigned(keyring: Keyring, methods: tuple[str, ...], path: str, expires: str | None,
                     signature: str | None, now: dt.datetime) -> None:
    """Accept a signature made for any of `methods` (POST and PUT address the same handle)."""
    try:
        expiry = int(expires or "")
    except ValueError:
        raise Forbidden("the signed URL has no valid 'expires' parameter") from None
    if not any(keyring.verify(f"{m}\n{path}\n{expiry}", signature) for m in methods):
        raise Forbidden("the URL signature does not match: the URL was altered or is not ours")
    limit = dt.datetime.fromtimestamp(expiry, dt.timezone.utc).replace(tzinfo=None)
    if now > limit + CLOCK_SKEW_ALLOWANCE:
        raise Forbidden("the signed URL has expired")
