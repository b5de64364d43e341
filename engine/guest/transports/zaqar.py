"""ZAQAR_MESSAGE and ZAQAR_SIGNAL: a server's os-collect-config `zaqar` subsection, Zaqar's queue
names, and the progress events of a queued deployment; touches the store (credentials,
servers, zaqar_queues) in the caller's session; the routes' side is engine/guest/queues.py.

Heat posts a server's whole metadata document on a Zaqar queue named after the server each time
it changes (`{body: metadata, ttl: 3600}`), and os-collect-config's `zaqar` collector pops one
message per cycle; heat-config-notify posts a ZAQAR_SIGNAL deployment's result on a queue named
after the deployment (`deploy_queue_id`). Hearth serves the part of Zaqar's API those clients
use (engine/guest/queues.py) over its own store, with three of Heat's sharp edges filed off:

- **queue names fit Zaqar**: Heat uses the physical resource name, which may pass Zaqar's 64
  characters or hold characters it refuses (zaqarclient refuses them before sending). Hearth's
  names are the readable part cleaned and cut, then the subject's id (`queue_name`);
- **a popped document is not lost**: see engine/guest/queues.py;
- **credentials rotate before they expire**: the `server-zaqar` user is replaced once less than
  a third of its life is left (`ROTATE_REMAINING`), at the next stack update or the next pop
  (queues.py), and the new password reaches the guest in the document itself; the old one
  works until its own expiry, so a collector that has not re-read its config is not cut off.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

from sqlalchemy import select

from engine.guest import credentials
from engine.guest.transports import heat
from engine.guest.transports.contract import Built, ServerPlace
from engine.orchestration.events import resource_event
from engine.runtime import Runtime
from engine.store.crypto import hash_secret, new_secret
from engine.store.models import Credential, Deployment, Event

OWNS = "zaqar"  # the os-collect-config subsection this transport fills
SERVER_KIND = heat.ZAQAR_KIND  # the credential a server's `zaqar` section names, `server-zaqar`
QUEUE_NAME_MAX = 64  # Zaqar's limit (zaqar/transport/validation.py QUEUE_NAME_MAX_LEN)
QUEUE_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")  # Zaqar's QUEUE_NAME_REGEX, and zaqarclient's
METADATA_TTL = 3600  # what Heat posts a metadata document with (its zaqar plugin's DEFAULT_TTL)
ROTATE_REMAINING = 1 / 3  # a credential with less of its life left is replaced
DEPLOYMENT_TYPE = "OS::Heat::SoftwareDeployment"


def queue_name(readable: str, subject_id: str) -> str:
    """A Zaqar queue name for `subject_id` (a server or deployment id): `readable` (stack and
    resource name) with every run of characters Zaqar refuses made one `-`, cut so that `-` and
    the first 12 characters of the id still fit in 64. Always valid, and unique by the id."""
    suffix = re.sub(r"[^a-zA-Z0-9]", "", subject_id)[:12] or "q"
    cleaned = re.sub(r"[^a-zA-Z0-9_-]+", "-", readable).strip("-")
    head = cleaned[: QUEUE_NAME_MAX - len(suffix) - 1].rstrip("-")
    return f"{head}-{suffix}" if head else suffix


def server_queue(stack_name: str, resource_name: str, server_id: str) -> str:
    return queue_name(f"{stack_name}-{resource_name}", server_id)


def deployment_queue(stack_name: str, resource_name: str, deployment_id: str) -> str:
    """ZAQAR_SIGNAL's `deploy_queue_id` (Heat: the deployment's physical name, uncut)."""
    return queue_name(f"{stack_name}-{resource_name}", deployment_id)


def section(server: ServerPlace, current: dict) -> Built:
    """Heat's `os-collect-config.zaqar` subsection: `{user_id, password, auth_url, project_id,
    queue_id, region_name}`. The user is a `server-zaqar` credential of this server, logged in at
    Hearth's guest Keystone (transports/heat.py); one already in `current` is kept while it is
    live with more than ROTATE_REMAINING of its life left, otherwise a new one is made and its
    row returned for the caller's unit of work."""
    runtime, now = server.runtime, server.now
    fixed = {
        "auth_url": heat.auth_url(runtime),
        "project_id": server.project,
        "queue_id": server_queue(server.stack_name, server.resource_name, server.server_id),
        "region_name": heat.REGION,
    }
    user_id, password = current.get("user_id"), current.get("password")
    if user_id and password:
        with runtime.store.session() as session:
            row = session.get(Credential, user_id)
            if _fresh(row, password, server.server_id, now):
                return Built({"user_id": user_id, "password": password, **fixed})
    user_id, password, row = new_user(runtime, server.server_id, server.stack_id, now)
    return Built({"user_id": user_id, "password": password, **fixed}, (row,))


def new_user(
    runtime: Runtime, server_id: str, stack_id: str | None, now: dt.datetime
) -> tuple[str, str, credentials.NewCredential]:
    """A new `server-zaqar` user for the server: (user id, password, the row to add)."""
    user_id, password = str(uuid.uuid4()), new_secret("hgs_")
    row = credentials.NewCredential(
        credential_id=user_id,
        kind=SERVER_KIND,
        subject_id=server_id,
        stack_id=stack_id,
        secret_hash=hash_secret(password),
        expires_at=now + dt.timedelta(seconds=runtime.config.credential_ttl),
        issued_at=now,
    )
    return user_id, password, row


def due(row: Any, now: dt.datetime) -> bool:
    """Less than ROTATE_REMAINING of the credential's life is left (or none)."""
    lifetime = (row.expires_at - row.created_at).total_seconds()
    return (row.expires_at - now).total_seconds() < lifetime * ROTATE_REMAINING


def _fresh(row: Credential | None, password: str, server_id: str, now: dt.datetime) -> bool:
    return (
        row is not None
        and row.kind == SERVER_KIND
        and row.subject_id == server_id
        and row.secret_hash == hash_secret(password)
        and credentials.is_live(row, now)
        and not due(row, now)
    )


def queue_of(document: dict) -> str | None:
    """The queue a server's (opened) metadata document says its collector pops, if any."""
    occ = document.get("os-collect-config") if isinstance(document, dict) else None
    zaqar = occ.get(OWNS) if isinstance(occ, dict) else None
    return zaqar.get("queue_id") if isinstance(zaqar, dict) else None


# Progress events --------------------------------------------------------------------------


def queued_event(
    stack_id: str, resource_name: str, deployment_id: str, action: str, queue: str, version: int, now: dt.datetime
) -> Event:
    """A deployment's entry is in the document now on its server's queue."""
    reason = f"Queued: deployment data in metadata version {version} on Zaqar queue {queue}"
    return resource_event(stack_id, resource_name, DEPLOYMENT_TYPE, deployment_id, action, "IN_PROGRESS", reason, now)


def popped_events(session, server_id: str, project: str, queue: str, version: int, now: dt.datetime) -> list[Event]:
    """One event for each deployment waiting on the server whose entry the popped document holds."""
    rows = session.scalars(
        select(Deployment).where(
            Deployment.server_id == server_id,
            Deployment.project == project,
            Deployment.status == "IN_PROGRESS",
            Deployment.stack_id.is_not(None),
        )
    ).all()
    reason = f"Popped: metadata version {version} taken from Zaqar queue {queue} by the server's collector"
    return [
        resource_event(
            row.stack_id, row.resource_name or "", DEPLOYMENT_TYPE, row.id, row.action, "IN_PROGRESS", reason, now
        )
        for row in rows
        if row.stack_id
    ]
