"""The audit log: owns AuditEvent rows, added in the caller's session (`record`) or in one of its
own (`record_refusal`); logs to `hearth.audit` a failure to write one.

The audit log: authentication failures and credential life cycles, with who, what and when.

Rule for every caller: an audit event NEVER holds a secret. Name a credential by its id (or
the first characters of a presented token that matched nothing, see `token_actor`), never by
its value; `detail` carries identifiers, counts and reasons only — no passwords, tokens,
signatures, signed URLs or deployment inputs. `record` refuses detail keys that look like they
hold one, so a slip shows up in tests rather than in the database.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import Forbidden, Unauthorized
from engine.store.models import AuditEvent

LOG = logging.getLogger("hearth.audit")

# Detail keys that would name a secret; `record` refuses them.
_SECRET_WORDS = ("secret", "password", "token", "signature", "credential_value")
# How many characters of an unknown presented token identify it in the log: enough to tell
# two clients apart, far too few to reuse.
TOKEN_PREFIX_CHARS = 6


def token_actor(presented: str | None) -> str:
    """The actor name for a request whose token matched nothing: a short prefix, or 'anonymous'."""
    if not presented:
        return "anonymous"
    return "token:" + presented[:TOKEN_PREFIX_CHARS] + "…"


def record(
    session: Session,
    *,
    action: str,
    actor: str,
    subject: str | None = None,
    outcome: str = "ok",
    detail: dict[str, Any] | None = None,
    remote_addr: str | None = None,
    now: dt.datetime,
) -> AuditEvent:
    """Add one audit event to `session` (committed with the caller's unit of work)."""
    for key in detail or {}:
        if any(word in key.lower() for word in _SECRET_WORDS):
            raise ValueError(f"audit detail key {key!r} looks like a secret; audit events never hold secrets")
    event = AuditEvent(
        at=now, actor=actor, action=action, subject=subject, outcome=outcome, detail=detail, remote_addr=remote_addr
    )
    session.add(event)
    return event


def record_refusal(
    runtime,
    error: Exception,
    *,
    api: str,
    operation: str,
    subject: str | None = None,
    remote_addr: str | None = None,
    **detail: Any,
) -> None:
    """Record a refused request (`auth.failed`) in a transaction of its own, since the request's
    own is rolled back; the actor is the refused credential's id (the error's `actor`, see
    engine.guest.credentials.refusal) or 'anonymous'. A failure to write it is logged, never raised:
    the client still gets its 401/403."""
    try:
        with runtime.store.session() as session:
            record(
                session,
                action="auth.failed",
                actor=getattr(error, "actor", "anonymous"),
                subject=subject,
                outcome="denied",
                remote_addr=remote_addr,
                now=runtime.now(),
                detail={
                    "api": api,
                    "operation": operation,
                    **detail,
                    "status": getattr(error, "status", None),
                    "reason": str(error),
                },
            )
    except Exception:
        LOG.exception("cannot write the audit record of a refused %s request", api)


@contextmanager
def refusals_recorded(
    runtime,
    *,
    api: str,
    operation: str,
    subject: str | None = None,
    remote_addr: str | None = None,
    refusals: tuple = (Unauthorized, Forbidden),
    **detail: Any,
) -> Iterator[None]:
    """Record every `refusals` error raised inside (record_refusal), then let it go on."""
    try:
        yield
    except refusals as error:
        record_refusal(runtime, error, api=api, operation=operation, subject=subject, remote_addr=remote_addr, **detail)
        raise


def list_events(
    session: Session,
    *,
    action: str | None = None,
    since: dt.datetime | None = None,
    limit: int = 100,
    marker: int | None = None,
) -> list[AuditEvent]:
    """Events newest first; `marker` is the id of the last event of the previous page."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(max(1, min(limit, 1000)))
    if action:
        query = query.where(AuditEvent.action == action)
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if marker is not None:
        query = query.where(AuditEvent.id < marker)
    return list(session.scalars(query))


def as_dict(event: AuditEvent) -> dict[str, Any]:
    """The API form of an event."""
    return {
        "id": event.id,
        "at": event.at.isoformat(),
        "actor": event.actor,
        "action": event.action,
        "subject": event.subject,
        "outcome": event.outcome,
        "detail": event.detail or {},
        "remote_addr": event.remote_addr,
    }
