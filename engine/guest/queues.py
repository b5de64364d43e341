"""The part of Zaqar's queue API that os-collect-config's `zaqar` collector and heat-agents'
heat-config-notify use, over Hearth's own store; touches the store (credentials, servers,
deployments, zaqar_queues, events, audit), wakes the scheduler; no server app.

Two kinds of queue exist, and a guest Keystone token (engine/guest/transports/heat.py) reaches
one queue of one kind:

- a server's **metadata queue** (ZAQAR_MESSAGE), named in its `os-collect-config.zaqar`
  section, for that section's `server-zaqar` user (or an older live one of the same server,
  while a rotation settles). Hearth posts the server's document on it at every change; the
  collector pops. **A popped document is not lost**: Heat's queue holds each document once, so
  a collector whose command failed (os-collect-config then keeps the document uncommitted)
  pops nothing the next time and never retries, until some later change. Hearth's queue always
  holds the server's latest document: a pop answers it and keeps it, until a newer one
  replaces it. os-collect-config compares what it pops with its last committed copy, so the
  same document again runs nothing, and after a failed command it runs again. The first pop
  of each version writes a `Popped` event on every deployment waiting on the server (once
  across replicas: a conditional UPDATE of zaqar_queues.popped_version), and is the server's
  contact (liveness), as a metadata read is on the other transports;
- a deployment's **signal queue** (ZAQAR_SIGNAL), its `deploy_queue_id`, for its `deployment`
  user. A posted message is taken as the deployment's signal before the answer, exactly as
  `POST /guest/v1/deployments/{id}/signal` takes it (stored durably once; the same signal
  again is harmless; a different one after the deployment finished is 409), so nothing is
  left in the queue to pop: a pop answers no messages.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from engine import audit, secrets
from engine.errors import Forbidden, InvalidRequest
from engine.guest import credentials, liveness, metadata, traces
from engine.guest.credentials import GuestAuth
from engine.guest.transports import heat, zaqar
from engine.runtime import Runtime
from engine.store.models import Credential, Deployment, Server, Stack, ZaqarQueue

if TYPE_CHECKING:  # the guest service makes this one, handing itself over
    from engine.guest.service import GuestService

MAX_POP = 20  # Zaqar's max_messages_per_claim_or_pop default
WRONG_QUEUE = (
    "a guest token reaches one Zaqar queue only: its server's metadata queue (the queue_id of the "
    "server's os-collect-config zaqar section) or its deployment's signal queue (deploy_queue_id)"
)


@dataclass(frozen=True)
class Target:
    """The queue a request reached, through whose credential."""

    kind: str  # "metadata" | "signal"
    subject_id: str  # the server's or the deployment's id
    secret: str
    credential_id: str


class QueueService:
    """Queue existence, pop and post for the two kinds of queue (module docstring)."""

    def __init__(self, runtime: Runtime, guest: GuestService):
        self.runtime = runtime
        self.guest = guest

    # Requests ---------------------------------------------------------------------------------
    def exists(self, token: str | None, project: str | None, queue: str, remote_addr: str | None) -> None:
        """Zaqar's queue create (PUT) and exists (HEAD): Hearth made the queue; it is there for
        the token that reaches it, and refused (403) for any other."""
        with self._refusals(queue, "queue", remote_addr):
            self._target(token, project, queue)

    def pop(
        self, token: str | None, project: str | None, queue: str, count: Any, remote_addr: str | None
    ) -> list[dict]:
        """Zaqar's `DELETE .../messages?pop=N`: the messages popped (at most one here)."""
        try:
            wanted = int(count)
        except (TypeError, ValueError):
            wanted = 0
        if not 1 <= wanted <= MAX_POP:
            raise InvalidRequest(f"pop must be a whole number from 1 to {MAX_POP}, not {count!r}")
        with self._refusals(queue, "queue pop", remote_addr):
            target = self._target(token, project, queue)
        if target.kind == "signal":
            return []  # signals are taken as they are posted
        return [self._pop_metadata(target, queue)]

    def post(
        self, token: str | None, project: str | None, queue: str, messages: Any, remote_addr: str | None
    ) -> list[str]:
        """Zaqar's `POST .../messages` `{"messages": [{"body": ..., "ttl": ...}, ...]}`: each body
        is the deployment's signal, in order; the new messages' ids."""
        if isinstance(messages, dict):
            messages = messages.get("messages")
        if not isinstance(messages, list) or not messages:
            raise InvalidRequest('post {"messages": [{"body": <the signal>, "ttl": <seconds>}, ...]}: one or more')
        if not all(isinstance(m, dict) and "body" in m for m in messages):
            raise InvalidRequest('each message must be an object with a "body" (and optionally a "ttl")')
        with self._refusals(queue, "queue post", remote_addr):
            target = self._target(token, project, queue)
            if target.kind != "signal":
                raise credentials.refusal(
                    Forbidden,
                    "a server's metadata queue is written by Hearth alone: signal a deployment on its "
                    "own queue (deploy_queue_id) with the deployment's user",
                    target.credential_id,
                )
        with self.runtime.store.session() as session:
            entry_id = session.get(Deployment, target.subject_id).config_id
        auth = GuestAuth(bearer=target.secret, remote_addr=remote_addr)
        for message in messages:
            self.guest.signal_deployment(auth, entry_id or "", message["body"])
        return [uuid.uuid4().hex[:24] for _ in messages]

    # The two kinds of queue -----------------------------------------------------------------
    def _target(self, token: str | None, project: str | None, queue: str) -> Target:
        opened = self.guest.keystone.open_token(token)
        if project and project != opened.project:
            raise credentials.refusal(
                Forbidden,
                f"X-Project-Id '{project}' is not the project of the token ('{opened.project}'): send the "
                "project_id you were given, or none",
                opened.credential_id,
            )
        now = self.runtime.now()
        with self.runtime.store.session() as session:
            row = credentials.authenticate(session, opened.secret, now)
            if row.kind == zaqar.SERVER_KIND:
                server = session.get(Server, row.subject_id)
                live = server is not None and server.deleted_at is None
                doc = secrets.open_document(self.runtime.keyring, server.metadata_doc) if live else {}
                if zaqar.queue_of(doc) == queue:
                    return Target("metadata", row.subject_id, opened.secret, row.id)
            elif row.kind == heat.DEPLOYMENT_KIND:
                deployment = session.get(Deployment, row.subject_id)
                stack = session.get(Stack, deployment.stack_id) if deployment and deployment.stack_id else None
                name = stack.name if stack else ""
                if deployment and zaqar.deployment_queue(name, deployment.resource_name or "", deployment.id) == queue:
                    return Target("signal", row.subject_id, opened.secret, row.id)
            raise credentials.refusal(Forbidden, WRONG_QUEUE, row.id)

    def _pop_metadata(self, target: Target, queue: str) -> dict:
        runtime, now = self.runtime, self.runtime.now()
        woken = published = None
        with runtime.store.session() as session:
            server = session.get(Server, target.subject_id)
            if liveness.seen(runtime, server, now) and server.stack_id:
                woken = (server.stack_id, server.resource_name)
            published = self._rotate_if_due(session, server, target.credential_id, now)
            version = server.metadata_version
            first, popped_at = self._first_pop(session, server, queue, version, now)
            if first:
                session.add_all(zaqar.popped_events(session, server.id, server.project, queue, version, now))
            doc = traces.heat_shaped(secrets.open_document(runtime.keyring, server.metadata_doc))
        runtime.delivered(target.subject_id, version)
        if published is not None:
            runtime.publish_server(target.subject_id, published)
        if woken is not None:
            runtime.wake(*woken)
        return message(version, doc, int((now - popped_at).total_seconds()))

    @staticmethod
    def _first_pop(session, server: Server, queue: str, version: int, now: dt.datetime) -> tuple[bool, dt.datetime]:
        """Whether this pop is the first of `version` (the queue's row made once, whoever races
        to make it), and when that first pop was."""
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        session.execute(
            dialect.insert(ZaqarQueue)
            .values(server_id=server.id, project=server.project, name=queue, popped_version=0, created_at=now)
            .on_conflict_do_nothing()
        )
        won = session.execute(
            update(ZaqarQueue)
            .where(ZaqarQueue.server_id == server.id, ZaqarQueue.popped_version < version)
            .values(popped_version=version, popped_at=now, name=queue)
            .execution_options(synchronize_session=False)
        )
        if won.rowcount == 1:
            return True, now
        popped_at = session.scalar(select(ZaqarQueue.popped_at).where(ZaqarQueue.server_id == server.id))
        return False, popped_at or now

    def _rotate_if_due(self, session, server: Server, credential_id: str, now: dt.datetime):
        """The section's user replaced once it is due (zaqar.due), the new one in the document
        the collector pops next; the old one lives on to its expiry. The new (version, document)
        to publish, or None."""
        row = session.get(Credential, credential_id)
        occ = secrets.open_section(self.runtime.keyring, (server.metadata_doc or {}).get("os-collect-config") or {})
        section = occ.get(zaqar.OWNS) if isinstance(occ, dict) else None
        if not isinstance(section, dict) or section.get("user_id") != credential_id or not zaqar.due(row, now):
            return None
        user_id, password, new = zaqar.new_user(self.runtime, server.id, server.stack_id, now)
        credentials.add_issued(session, (new,))
        occ = {**occ, zaqar.OWNS: {**section, "user_id": user_id, "password": password}}
        server.metadata_doc = {
            **server.metadata_doc,
            "os-collect-config": secrets.seal_section(self.runtime.keyring, occ),
        }
        session.flush()
        audit.record(
            session,
            action="credential.rotate",
            actor=credential_id,
            subject=user_id,
            detail={"kind": new.kind},
            now=now,
        )
        return metadata.push_metadata(session, server.id, self.runtime.keyring)

    def _refusals(self, queue: str, what: str, remote_addr: str | None):
        return audit.refusals_recorded(
            self.runtime, api="zaqar", operation=what, subject=queue, remote_addr=remote_addr
        )


def message(version: int, doc: dict, age: int) -> dict:
    """A popped message as Zaqar's storage answers it (id, age, ttl, body, claim_count, claim_id):
    its id names the document's version, so the same document keeps its id; its age counts
    from the version's first pop."""
    return {
        "id": f"{version:024x}",
        "age": max(0, age),
        "ttl": zaqar.METADATA_TTL,
        "body": doc,
        "claim_count": 0,
        "claim_id": None,
    }
