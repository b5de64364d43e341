"""Guest bearer credentials and pre-signed URLs: owns Credential rows (with audit rows) in the
caller's session, signs with the Keyring it is given; nothing else.

Guest principals: per-server and per-handle bearer credentials (stored hashed, expiring, rotatable)
and pre-signed URLs.

Every issue, rotation and revocation is written to the audit log in the caller's unit of work,
naming the credential by its id, never by its secret.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine import audit
from engine.errors import Conflict, Forbidden, NotFound, Unauthorized
from engine.runtime import iso
from engine.store.crypto import Keyring, hash_secret, new_secret
from engine.store.models import Credential, Server

# A pre-signed URL's expiry is checked with this much grace, so a guest whose clock runs
# behind ours (Heat's 15-minute Timestamp check broke on skew) is not refused.
CLOCK_SKEW_ALLOWANCE = dt.timedelta(minutes=15)
ENGINE_ACTOR = "engine"  # the audit actor of what the engine does by itself (issue, revoke)
UNKNOWN_CREDENTIAL = (
    "the guest credential is unknown, expired or revoked: use the credential in "
    "the server's current bootstrap document (after a rotation the old one works "
    "only until its overlap ends), or issue a new one with 'hearth server bootstrap'"
)


@dataclass
class GuestAuth:
    """How a guest request proves itself: a bearer secret, or a pre-signed URL's query."""

    bearer: str | None = None
    method: str = "POST"
    expires: str | None = None
    signature: str | None = None
    remote_addr: str | None = None  # for the audit record of a refusal
    # The version Hearth's agent names itself by (User-Agent: hearth-agent/VERSION), kept on
    # the server for the console; None for other clients.
    agent: str | None = None
    # (created_at, expires_at) of the bearer credential, filled in once it is accepted, so
    # that the metadata answer can tell the agent when to rotate.
    credential_times: tuple[dt.datetime, dt.datetime] | None = None
    # A user already authorised by the orchestration API for the stack the resource is in
    # (Heat's resource-signal call, engine/operations.py): no guest credential is checked.
    operator: str | None = None

    @property
    def presigned(self) -> bool:
        return self.signature is not None

    @property
    def via(self) -> str:
        """How the request proved itself, as the audit log names it."""
        return "signed URL" if self.presigned else "bearer" if self.bearer else "none"


def refusals_audited(
    runtime: Any, auth: GuestAuth, what: str, subject: str | None, refusals: tuple = (Unauthorized, Forbidden)
):
    """Every 401/403 (or `refusals`) of a guest request recorded in the audit log, naming the
    credential by id or 'anonymous', never the secret."""
    return audit.refusals_recorded(
        runtime,
        api="guest",
        operation=what,
        subject=subject,
        remote_addr=auth.remote_addr,
        refusals=refusals,
        via=auth.via,
    )


def own_server(
    session: Session, auth: GuestAuth, server_id: str, now: dt.datetime, what: str
) -> tuple[Credential, Server]:
    """The bearer credential and the live server `server_id`, for a request made with that
    server's own credential (`what` names what needs it: a signed URL is refused)."""
    if auth.presigned:
        raise refusal(Forbidden, f"{what} need the server's credential (Authorization: Bearer)")
    credential = authenticate(session, auth.bearer, now)
    require_subject(credential, "server", server_id)
    server = session.get(Server, server_id)
    if server is None or server.deleted_at is not None:
        raise NotFound(f"server '{server_id}' not found")
    return credential, server


def refusal(error_class, message: str, actor: str = "anonymous"):
    """An Unauthorized/Forbidden that carries who was refused, for the audit record."""
    error = error_class(message)
    error.actor = actor
    return error


def issue(
    session: Session, *, kind: str, subject_id: str, stack_id: str | None, now: dt.datetime, ttl_seconds: int
) -> str:
    """Create a credential for one server or one handle; return the secret (kept nowhere)."""
    secret, row = _create(session, kind, subject_id, stack_id, now, ttl_seconds)
    audit.record(
        session, action="credential.issue", actor=ENGINE_ACTOR, subject=row.id, detail=_described(row), now=now
    )
    return secret


def record_issued(
    session: Session,
    *,
    credential_id: str,
    kind: str,
    subject_id: str,
    stack_id: str | None,
    secret_hash: str,
    expires_at: dt.datetime,
    now: dt.datetime,
) -> Credential:
    """Add a credential whose secret was made (and handed out) elsewhere, with its audit record:
    the stock-client credentials a server's os-collect-config section carries
    (engine/guest/transports/), built before the session that stores them exists."""
    row = Credential(
        id=credential_id,
        kind=kind,
        subject_id=subject_id,
        stack_id=stack_id,
        secret_hash=secret_hash,
        expires_at=expires_at,
        created_at=now,
    )
    session.add(row)
    audit.record(
        session, action="credential.issue", actor=ENGINE_ACTOR, subject=row.id, detail=_described(row), now=now
    )
    return row


@dataclass(frozen=True)
class NewCredential:
    """A credential a transport's section hands out (its secret already in the section), as
    data for the unit of work that stores the section (add_issued)."""

    credential_id: str
    kind: str
    subject_id: str
    stack_id: str | None
    secret_hash: str
    expires_at: dt.datetime
    issued_at: dt.datetime
    # Revoke the subject's live credentials of this kind first (a key pair replaced).
    replaces: bool = False


def add_issued(session: Session, issued: tuple[NewCredential, ...] | list[NewCredential]) -> None:
    """Add the rows of `issued`, with their audit records, in the caller's unit of work. A
    replaced kind's earlier rows are marked revoked, as the section no longer names them."""
    for new in issued:
        if new.replaces:
            session.execute(
                update(Credential)
                .where(
                    Credential.kind == new.kind,
                    Credential.subject_id == new.subject_id,
                    Credential.revoked_at.is_(None),
                )
                .values(revoked_at=new.issued_at)
            )
        record_issued(
            session,
            credential_id=new.credential_id,
            kind=new.kind,
            subject_id=new.subject_id,
            stack_id=new.stack_id,
            secret_hash=new.secret_hash,
            expires_at=new.expires_at,
            now=new.issued_at,
        )


def _create(
    session: Session, kind: str, subject_id: str, stack_id: str | None, created_at: dt.datetime, ttl_seconds: int
) -> tuple[str, Credential]:
    secret = new_secret("hg" + kind[0] + "_")
    row = Credential(
        id=str(uuid.uuid4()),
        kind=kind,
        subject_id=subject_id,
        stack_id=stack_id,
        secret_hash=hash_secret(secret),
        expires_at=created_at + dt.timedelta(seconds=ttl_seconds),
        created_at=created_at,
    )
    session.add(row)
    return secret, row


def _described(row: Credential) -> dict:
    return {"kind": row.kind, "subject_id": row.subject_id, "stack_id": row.stack_id, "expires_at": iso(row.expires_at)}


def authenticate(session: Session, secret: str | None, now: dt.datetime) -> Credential:
    """The live credential for `secret`, or Unauthorized (one message for every cause)."""
    if not secret:
        raise refusal(
            Unauthorized,
            "a guest credential is required: send 'Authorization: Bearer "
            "<credential>' with the credential from the bootstrap document",
        )
    row = session.scalar(select(Credential).where(Credential.secret_hash == hash_secret(secret)))
    if row is None or not is_live(row, now):
        # Known but dead credentials are named by id in the audit log; the answer stays the same.
        raise refusal(Unauthorized, UNKNOWN_CREDENTIAL, row.id if row is not None else "anonymous")
    return row


def is_live(row: Any, now: dt.datetime) -> bool:
    """Neither revoked nor expired (a Credential, or a row of its columns)."""
    return row.revoked_at is None and row.expires_at > now


def require_subject(credential: Credential, kind: str, subject_id: str) -> None:
    if credential.kind != kind or credential.subject_id != subject_id:
        raise refusal(
            Forbidden,
            f"this {credential.kind} credential does not grant access to that "
            f"{kind}: each credential reaches only the {credential.kind} it was "
            "issued for; use that one's own credential",
            credential.id,
        )


def rotate(
    session: Session, credential: Credential, *, now: dt.datetime, ttl_seconds: int, overlap_seconds: int
) -> tuple[str, Credential, Credential]:
    """Replace `credential` by a new one for the same subject and stack.

    The old one keeps working for `overlap_seconds` (never longer than it had left), so a
    request already under way, or an agent that has not switched yet, is not refused. Only the
    newest credential of a subject may rotate: a rotated-away one is refused with Conflict, so
    a leaked old credential cannot mint fresh ones. Returns (secret, new row, old row).
    """
    # Locked, so that two rotations with the same credential do not both succeed.
    old = session.get(Credential, credential.id, with_for_update=True, populate_existing=True)
    newer = session.scalar(
        select(Credential.id)
        .where(
            Credential.kind == old.kind,
            Credential.subject_id == old.subject_id,
            Credential.revoked_at.is_(None),
            Credential.created_at > old.created_at,
        )
        .limit(1)
    )
    if newer is not None:
        raise refusal(
            Conflict,
            "this credential was already replaced by a rotation and cannot rotate again: use the newer credential",
            old.id,
        )
    # Strictly after the old one, so "newer" above is well defined even on a coarse clock.
    created_at = max(now, old.created_at + dt.timedelta(microseconds=1))
    secret, new = _create(session, old.kind, old.subject_id, old.stack_id, created_at, ttl_seconds)
    old.expires_at = min(old.expires_at, now + dt.timedelta(seconds=overlap_seconds))
    audit.record(
        session,
        action="credential.rotate",
        actor=old.id,
        subject=new.id,
        detail={**_described(new), "previous_id": old.id, "previous_expires_at": iso(old.expires_at)},
        now=now,
    )
    return secret, new, old


def revoke_subject(session: Session, subject_id: str, now: dt.datetime) -> None:
    """Revoke every live credential of one subject, rotated ones included."""
    _revoke(session, Credential.subject_id == subject_id, now)


def revoke_stack(session: Session, stack_id: str, now: dt.datetime) -> None:
    """Revoke every live credential issued within a stack, rotated ones included."""
    _revoke(session, Credential.stack_id == stack_id, now)


def _revoke(session: Session, condition, now: dt.datetime) -> None:
    live = list(session.scalars(select(Credential).where(condition, Credential.revoked_at.is_(None))))
    if not live:
        return
    session.execute(update(Credential).where(Credential.id.in_([row.id for row in live])).values(revoked_at=now))
    for row in live:
        audit.record(
            session, action="credential.revoke", actor=ENGINE_ACTOR, subject=row.id, detail=_described(row), now=now
        )


def presign(
    keyring: Keyring, base_url: str, method: str, path: str, now: dt.datetime, ttl_seconds: int, *, after: int = 0
) -> str:
    """A URL for `method path` valid for `ttl_seconds` from `now` (naive UTC, read as UTC, not as
    this host's local time), and in any case later than the unix time `after`: the signature
    covers only method, path and expiry, so a URL re-issued within the same second as a revoked
    one would otherwise be that very URL (engine/guest/transports/temp_url.py)."""
    expires = max(int(now.replace(tzinfo=dt.UTC).timestamp()) + ttl_seconds, after + 1)
    return signed_url(keyring, base_url, method, path, expires)


def signed_url(keyring: Keyring, base_url: str, method: str, path: str, expires: int) -> str:
    """A URL for `method path` valid until the unix time `expires`, HMAC-signed over all three."""
    signature = keyring.sign(f"{method.upper()}\n{path}\n{expires}")
    return f"{base_url}{path}?{urlencode({'expires': expires, 'signature': signature})}"


def verify_presigned(
    keyring: Keyring, methods: tuple[str, ...], path: str, expires: str | None, signature: str | None, now: dt.datetime
) -> None:
    """Accept a signature made for any of `methods` (POST and PUT address the same handle)."""
    try:
        expiry = int(expires or "")
    except ValueError:
        raise refusal(
            Forbidden, "the signed URL has no valid 'expires' parameter: use the URL exactly as Hearth gave it"
        ) from None
    if not any(keyring.verify(f"{m}\n{path}\n{expiry}", signature) for m in methods):
        raise refusal(
            Forbidden,
            "the URL signature does not match: the URL was altered or is not "
            "ours; use the URL exactly as Hearth gave it",
        )
    limit = dt.datetime.fromtimestamp(expiry, dt.UTC).replace(tzinfo=None)
    if now > limit + CLOCK_SKEW_ALLOWANCE:
        raise refusal(
            Forbidden,
            "the signed URL has expired: get a fresh one from the stack "
            "(for a deployment, from the server's current metadata)",
        )
