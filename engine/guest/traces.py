"""Convergence traces: how each deployment entry of an operation reached its server. Touches the
store (deployment_traces, stacks) in the caller's session, and its own in Deliveries' flush;
nothing of the server app.

An operation's id is `<stack id>:<operation number>` of the stack whose operation wrote the
entry: the topmost stack of the tree that is IN_PROGRESS, so that a stack update's entries in
nested stacks and group members carry the update's id, and a group's own resize (its parent
untouched) carries the resize's. The id travels in the entry (`hearth_operation`) to the agent,
which sends it back with its signal together with how long the run took (`hearth_run_seconds`).

A trace row per entry records four moments: committed (the unit of work that wrote the entry),
delivered (the first answer to the server, on any channel, of a document version holding it),
started (the signal's arrival less the run time the agent measured: no agent clock involved)
and finished (the signal's arrival). Rows are kept for a deployment's last TRACES_KEPT actions
and deleted with it.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import and_, bindparam, delete, or_, select, update
from sqlalchemy.orm import Session

from engine.store.db import Store, among, update_rows
from engine.store.models import DeploymentTrace, Stack

log = logging.getLogger(__name__)

ENTRY_KEY = "hearth_operation"  # the operation id in a deployment entry, and echoed in its signal
RUN_SECONDS_KEY = "hearth_run_seconds"  # how long the hook ran, in the agent's signal
TRACES_KEPT = 10  # per deployment: its last actions
MAX_NESTING = 32  # owners walked up at most (engine.limits caps nesting well below)


def operation_of(session: Session, stack_id: str | None) -> tuple[str | None, str | None]:
    """(operation id, root stack id) for an entry written by `stack_id`'s current operation:
    the operation of the topmost IN_PROGRESS stack among it and its owners, and the tree's root."""
    if not stack_id:
        return None, None
    operation: str | None = None
    current: str | None = stack_id
    root = stack_id
    driving = True
    for _ in range(MAX_NESTING):
        row = session.execute(
            select(Stack.id, Stack.status, Stack.operation, Stack.owner_id).where(Stack.id == current)
        ).first()
        if row is None:
            break
        root = row.id
        if driving and (operation is None or row.status == "IN_PROGRESS"):
            operation = f"{row.id}:{row.operation}"
        driving = driving and row.status == "IN_PROGRESS"
        if not row.owner_id:
            break
        current = row.owner_id
    return operation, root


def record_entry(
    session: Session,
    *,
    entry_id: str,
    deployment_id: str,
    server_id: str,
    project: str,
    stack_id: str | None,
    resource_name: str | None,
    action: str,
    status: str,
    now: dt.datetime,
) -> DeploymentTrace:
    """Add the entry's trace to the caller's unit of work, before the server's document is pushed
    (which reads its operation id; the caller sets `metadata_version` from the push); drop the
    deployment's traces beyond the last TRACES_KEPT."""
    operation, root = operation_of(session, stack_id)
    trace = DeploymentTrace(
        id=entry_id,
        deployment_id=deployment_id,
        server_id=server_id,
        project=project,
        stack_id=stack_id,
        root_id=root,
        resource_name=resource_name,
        action=action,
        operation=operation,
        status=status,
        committed_at=now,
        # NO_SIGNAL: complete as soon as it is written, as the deployment is.
        finished_at=now if status != "IN_PROGRESS" else None,
    )
    session.add(trace)
    session.flush()
    kept = (
        select(DeploymentTrace.id)
        .where(DeploymentTrace.deployment_id == deployment_id)
        .order_by(DeploymentTrace.committed_at.desc(), DeploymentTrace.id.desc())
        .limit(TRACES_KEPT)
    )
    session.execute(
        delete(DeploymentTrace).where(
            DeploymentTrace.deployment_id == deployment_id, DeploymentTrace.id.not_in(kept.scalar_subquery())
        )
    )
    return trace


def heat_shaped(doc: Any) -> Any:
    """The document as Heat's channels give it (heat, cfn, request, zaqar collectors, the
    orchestration API): its entries without ENTRY_KEY, which only Hearth's own channel carries."""
    entries = doc.get("deployments") if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not any(isinstance(e, dict) and ENTRY_KEY in e for e in entries):
        return doc
    shaped = [{k: v for k, v in e.items() if k != ENTRY_KEY} if isinstance(e, dict) else e for e in entries]
    return {**doc, "deployments": shaped}


def forget_deployment(session: Session, deployment_id: str) -> None:
    session.execute(delete(DeploymentTrace).where(DeploymentTrace.deployment_id == deployment_id))


def entry_operations(session: Session, entry_ids: Iterable[str]) -> dict[str, str]:
    """{entry id: operation id} of the entries that have one."""
    ids = list(entry_ids)
    if not ids:
        return {}
    return {
        row.id: row.operation
        for row in session.execute(
            select(DeploymentTrace.id, DeploymentTrace.operation).where(
                among(session, DeploymentTrace.id, ids), DeploymentTrace.operation.is_not(None)
            )
        )
    }


def run_seconds(body: Any) -> float | None:
    """The run time an agent reported with its signal (Hearth's agent does; stock hooks don't)."""
    value = body.get(RUN_SECONDS_KEY) if isinstance(body, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 10**7:
        return None
    return float(value)


def finished_change(entry_id: str, status: str, body: Any, now: dt.datetime) -> dict[str, Any]:
    """The trace's columns a signal sets (for finish_many), keyed by the entry's id."""
    seconds = run_seconds(body)
    started = now - dt.timedelta(seconds=seconds) if seconds is not None else None
    return {"id": entry_id, "status": status, "finished_at": now, "started_at": started}


def finish_many(session: Session, changes: list[dict[str, Any]]) -> None:
    """Record signals' results in their traces: one statement however many (an entry without a
    trace, one the software API made, matches nothing)."""
    if not changes:
        return
    if session.get_bind().dialect.name == "postgresql":
        update_rows(session, DeploymentTrace, changes)
        return
    table = DeploymentTrace.__table__
    session.execute(
        update(table)
        .where(table.c.id == bindparam("trace_id"))
        .values(status=bindparam("status"), finished_at=bindparam("finished_at"), started_at=bindparam("started_at")),
        [{**change, "trace_id": change["id"]} for change in changes],
    )


class Deliveries:
    """Notes which document version each server was answered with, and records, a moment later
    and in one statement for many servers, that the entries it held were delivered.

    note() is called on every answer to a guest and costs a dict lookup when the version is one
    this replica already noted for the server (most polls); a new one is queued and flushed by a
    daemon thread within `delay` seconds. A version noted on another replica is noted again here:
    the update finds nothing left to set."""

    MAX_REMEMBERED = 200_000  # servers whose last noted version is kept (then forgotten, all at once)

    def __init__(self, store: Store, clock: Callable[[], dt.datetime], delay: float = 0.25):
        self.store, self.clock, self.delay = store, clock, delay
        self._lock = threading.Lock()
        self._noted: dict[str, int] = {}
        self._pending: dict[str, tuple[int, dt.datetime]] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def note(self, server_id: str, version: int | None) -> None:
        if version is None or self._noted.get(server_id, -1) >= version:
            return
        with self._lock:
            if self._noted.get(server_id, -1) >= version:
                return
            if len(self._noted) >= self.MAX_REMEMBERED:
                self._noted.clear()
            self._noted[server_id] = version
            self._pending[server_id] = (version, self.clock())
        self._wake.set()

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="hearth-deliveries", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            if self._stop.wait(self.delay):
                break
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # a lost delivery time must not stop the next ones
                log.exception("could not record deliveries of deployment entries")

    def flush(self) -> int:
        """Write what is queued; returns how many servers it covered."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return 0
        table = DeploymentTrace.__table__
        rows = [{"server": s, "version": v, "at": at} for s, (v, at) in pending.items()]
        statement = (
            update(table)
            .where(
                table.c.server_id == bindparam("server"),
                table.c.delivered_at.is_(None),
                or_(
                    table.c.metadata_version <= bindparam("version"),
                    and_(table.c.metadata_version.is_(None), table.c.committed_at <= bindparam("at")),
                ),
            )
            .values(delivered_at=bindparam("at"))
        )
        with self.store.session() as session:
            session.execute(statement, rows)
        return len(rows)
