"""A project's own Zaqar queues, for people and for zaqar-queue event sinks (docs/zaqar.md, User
queues): who may use them, create and exists, post, list with marker paging, read and delete by
id, pop, expiry; touches the store (user_queues, user_queue_messages, API tokens, audit).

A queue belongs to a project and is reached with a person's token of that project (a Keystone
token from /identity/v3 or a Hearth API token): reading needs any role, changing it (create,
post, pop, delete) `member` or more. Guest tokens never reach these queues (the routes hand
them to engine/guest/queues.py, which only knows each guest's own queue), and a person's token
never reaches a guest's: the two live in different tables, whatever their names.

Limits: each queue holds at most user_queue_max_messages unexpired messages (its row lock orders
the posts, so concurrent posters cannot pass it), each body at most user_queue_max_message_bytes
of compact JSON; a message lives its `ttl` (Zaqar's bounds: 60 s to 14 days, 3600 s unless said).
An expired message is never answered, and is deleted by the next post to its queue or by the
retention sweep. A pop deletes what it answers in one statement (`DELETE … RETURNING`, its rows
chosen `FOR UPDATE SKIP LOCKED` on PostgreSQL): across replicas, a message is popped once.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from engine import audit, identity
from engine.errors import Conflict, InvalidRequest, NotFound, Unauthorized
from engine.runtime import Runtime
from engine.store.models import UserQueue, UserQueueMessage

DEFAULT_TTL = 3600  # Zaqar's default_message_ttl
MIN_TTL, MAX_TTL = 60, 1209600  # Zaqar's bounds on a message's ttl
PAGE, MOST_PER_PAGE = 10, 20  # Zaqar's default listing limit and max_messages_per_page
MOST_PER_POST = 20  # messages one post may carry (Zaqar: max_messages_per_page)
MOST_PER_POP = 20  # Zaqar's max_messages_per_claim_or_pop


class QueueFull(Conflict):
    """The queue holds user_queue_max_messages unexpired messages already."""


def ttl_of(value: Any) -> int:
    """A posted message's ttl, checked as Zaqar checks it (absent: its default)."""
    if value is None:
        return DEFAULT_TTL
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_TTL <= value <= MAX_TTL:
        raise InvalidRequest(
            f"The TTL for a message may not exceed {MAX_TTL} seconds, and must be at least {MIN_TTL} seconds long."
        )
    return value


def sink_ttl(value: Any) -> int:
    """A zaqar-queue sink's `ttl` brought inside Zaqar's bounds (Heat's sink would have its post
    refused, and the event lost; 0 or none means the default)."""
    return DEFAULT_TTL if not value else max(MIN_TTL, min(int(value), MAX_TTL))


class UserQueues:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    # Who --------------------------------------------------------------------------------------
    def project_for(
        self, token: str | None, project: str | None, method: str, queue: str, remote_addr: str | None
    ) -> str:
        """The project whose queue `queue` a person's request reaches: X-Project-Id, or the one
        project a Keystone token is scoped to; Unauthorized or Forbidden otherwise (audited)."""
        with audit.refusals_recorded(
            self.runtime, api="zaqar", operation=f"user queue {method}", subject=queue, remote_addr=remote_addr
        ):
            with self.runtime.store.session() as session:
                try:
                    principal = identity.authenticate(session, token, self.runtime.now())
                except Unauthorized:
                    raise Unauthorized(
                        "the token is unknown, expired or revoked: sign in at /identity/v3 "
                        "(or use a Hearth API token) and send it as X-Auth-Token"
                    ) from None
            if not project:
                scoped = list(principal.roles) if not principal.cloud_admin else []
                if len(scoped) != 1:
                    raise InvalidRequest("send X-Project-Id: the project whose queue this is")
                project = scoped[0]
            identity.authorize(principal, project, method)
        return project

    # Queues -----------------------------------------------------------------------------------
    def create(self, project: str, name: str) -> None:
        """Zaqar's queue create: made if missing (204 either way, as Zaqar answers)."""
        with self.runtime.store.session() as session:
            self._ensure(session, project, name)

    def exists(self, project: str, name: str) -> None:
        with self.runtime.store.session() as session:
            if session.get(UserQueue, (project, name)) is None:
                raise NotFound(f"Queue {name} does not exist: create it (PUT) or post a message to it")

    # Messages ---------------------------------------------------------------------------------
    def post(self, project: str, name: str, document: Any, client_id: str | None) -> list[str]:
        """Zaqar's post `{"messages": [{"body", "ttl"}, ...]}`; the new messages' ids, in order.
        The queue is made if missing, as Zaqar does."""
        messages = document.get("messages") if isinstance(document, dict) else document
        if not isinstance(messages, list) or not messages:
            raise InvalidRequest("No messages were found in the request body.")
        if len(messages) > MOST_PER_POST:
            raise InvalidRequest(f"No more than {MOST_PER_POST} messages may be posted at once.")
        if not all(isinstance(m, dict) and "body" in m for m in messages):
            raise InvalidRequest('each message must be an object with a "body" (and optionally a "ttl")')
        checked = [(self._sized(m["body"]), ttl_of(m.get("ttl"))) for m in messages]
        return self._add(project, name, checked, client_id)

    def post_event(self, project: str, name: str, message: dict) -> str:
        """An event sink's post (Heat's ZaqarEventSink: `{"body": event, "ttl": ttl}`), made as
        Hearth itself (no Client-ID: every consumer sees it without `echo`)."""
        (posted,) = self._add(project, name, [(self._sized(message["body"]), sink_ttl(message.get("ttl")))], None)
        return posted

    def listed(
        self, project: str, name: str, client_id: str, *, marker: Any = None, limit: Any = None, echo: bool = False
    ) -> tuple[list[dict], int | None]:
        """Zaqar's message listing: up to `limit` unexpired messages after `marker`, oldest
        first, without this client's own unless `echo`; and the marker of the next page (None
        when this one is empty)."""
        after = _whole(marker, "marker", 0) if marker not in (None, "") else 0
        count = _whole(limit, "limit", 1) if limit not in (None, "") else PAGE
        if count > MOST_PER_PAGE:
            raise InvalidRequest(f"Limit must be at least 1 and may not be greater than {MOST_PER_PAGE}.")
        now = self.runtime.now()
        condition = and_(self._live(project, name, now), UserQueueMessage.seq > after)
        if not echo:
            condition = and_(
                condition, or_(UserQueueMessage.client_id.is_(None), UserQueueMessage.client_id != client_id)
            )
        with self.runtime.store.session() as session:
            rows = session.scalars(
                select(UserQueueMessage).where(condition).order_by(UserQueueMessage.seq).limit(count)
            )
            shown = [(row.seq, _shown(row, now)) for row in rows]
        return [m for _, m in shown], (shown[-1][0] if shown else None)

    def by_ids(self, project: str, name: str, ids: Iterable[str]) -> list[dict]:
        """The unexpired messages with these ids (Zaqar's `?ids=` and message get)."""
        now = self.runtime.now()
        wanted = _ids(ids)
        with self.runtime.store.session() as session:
            rows = session.scalars(
                select(UserQueueMessage)
                .where(self._live(project, name, now), UserQueueMessage.id.in_(wanted))
                .order_by(UserQueueMessage.seq)
            )
            return [_shown(row, now) for row in rows]

    def delete(self, project: str, name: str, ids: Iterable[str]) -> None:
        """Zaqar's delete by ids: those still there go (the others are not an error)."""
        wanted = _ids(ids)
        with self.runtime.store.session() as session:
            session.execute(
                delete(UserQueueMessage).where(
                    UserQueueMessage.project == project, UserQueueMessage.queue == name, UserQueueMessage.id.in_(wanted)
                )
            )

    def pop(self, project: str, name: str, count: Any) -> list[dict]:
        """Zaqar's pop: the oldest `count` unexpired messages, deleted as they are answered, each
        once whichever replica answers (module docstring)."""
        wanted = _whole(count, "pop", 1)
        if wanted > MOST_PER_POP:
            raise InvalidRequest(f"pop must be a whole number from 1 to {MOST_PER_POP}, not {count!r}")
        now = self.runtime.now()
        chosen = (
            select(UserQueueMessage.seq)
            .where(self._live(project, name, now))
            .order_by(UserQueueMessage.seq)
            .limit(wanted)
            .with_for_update(skip_locked=True)
        )
        with self.runtime.store.session() as session:
            rows = session.execute(
                delete(UserQueueMessage)
                .where(UserQueueMessage.seq.in_(chosen.scalar_subquery()))
                .returning(*UserQueueMessage.__table__.columns)
            ).all()
        return [{**_shown(row, now), "claim_count": 0, "claim_id": None} for row in sorted(rows, key=lambda r: r.seq)]

    # Inside ---------------------------------------------------------------------------------------
    def _sized(self, body: Any) -> Any:
        most = self.runtime.config.user_queue_max_message_bytes
        size = len(json.dumps(body, separators=(",", ":")).encode())
        if size > most:
            raise InvalidRequest(
                f"a message body is {size} bytes of JSON; a user queue takes at most {most} "
                "(user_queue_max_message_bytes)"
            )
        return body

    def _add(self, project: str, name: str, messages: list[tuple[Any, int]], client_id: str | None) -> list[str]:
        now = self.runtime.now()
        most = self.runtime.config.user_queue_max_messages
        rows = [
            UserQueueMessage(
                id=uuid.uuid4().hex,
                project=project,
                queue=name,
                body=body,
                ttl=ttl,
                client_id=client_id,
                created_at=now,
                expires_at=now + dt.timedelta(seconds=ttl),
            )
            for body, ttl in messages
        ]
        with self.runtime.store.session() as session:
            self._ensure(session, project, name)
            # The queue's row lock orders its posts: the count below stays true until commit.
            session.get(UserQueue, (project, name), with_for_update=True)
            session.execute(
                delete(UserQueueMessage).where(
                    UserQueueMessage.project == project,
                    UserQueueMessage.queue == name,
                    UserQueueMessage.expires_at <= now,
                )
            )
            held = session.scalar(
                select(func.count()).select_from(UserQueueMessage).where(self._live(project, name, now))
            )
            if held + len(rows) > most:
                raise QueueFull(
                    f"queue {name} holds {held} messages and takes at most {most} (user_queue_max_messages): "
                    "pop or delete some, or let them expire"
                )
            session.add_all(rows)
        return [row.id for row in rows]

    def _ensure(self, session, project: str, name: str) -> None:
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        session.execute(
            dialect.insert(UserQueue)
            .values(project=project, name=name, created_at=self.runtime.now())
            .on_conflict_do_nothing()
        )

    @staticmethod
    def _live(project: str, name: str, now: dt.datetime):
        return and_(
            UserQueueMessage.project == project, UserQueueMessage.queue == name, UserQueueMessage.expires_at > now
        )


def prune(runtime: Runtime) -> int:
    """Delete every expired message (the retention sweep, on every replica; idempotent)."""
    with runtime.store.session() as session:
        gone = session.execute(delete(UserQueueMessage).where(UserQueueMessage.expires_at <= runtime.now()))
        return int(gone.rowcount or 0)


def _shown(row, now: dt.datetime) -> dict:
    """A message as Zaqar's storage answers it (the routes add its `href`)."""
    return {
        "id": row.id,
        "ttl": row.ttl,
        "age": max(0, int((now - row.created_at).total_seconds())),
        "body": row.body,
    }


def _whole(value: Any, what: str, least: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = least - 1
    if number < least:
        raise InvalidRequest(f"{what} must be a whole number, at least {least}, not {value!r}")
    return number


def _ids(ids: Iterable[str]) -> list[str]:
    wanted = [i for i in ids if i]
    if not wanted or len(wanted) > MOST_PER_PAGE:
        raise InvalidRequest(f"name from 1 to {MOST_PER_PAGE} message ids")
    return wanted
