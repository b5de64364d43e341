"""Agent liveness and gone agents' deployments: touches the store (servers, deployments), reads the
compute driver's view, wakes the scheduler; nothing of the server app.

Agent liveness: when each server's agent last reached the guest API, and failing the waiting
deployments of an agent that has been gone longer than `agent_gone_grace`.

A server's agent is *seen* whenever a request made with one of that server's own credentials
(or a signal URL of one of its deployments) reaches the guest API: a metadata request by any
collector (Hearth's long-poll, os-collect-config's `cfn`, `heat` and `request`), a deployment
signal, a progress heartbeat. `servers.last_seen_at` keeps that time to within SEEN_RESOLUTION
(or a quarter of the grace, if less), so an agent's polls cost at most one row write per few
seconds.

An agent counts as **gone** when it has not been seen for `agent_gone_grace` seconds past the
end of the longest long-poll it may be holding (`longpoll_max_wait`): a live agent always comes
back within that. Only servers seen at least once count (a pre-provisioned machine that was
never enrolled may still be on its way), and an engine that has just started gives every agent
that long again, since none could reach it while it was down. Every deployment still waiting
for such a server's signal is then failed, with a reason that names the server, says since
when it was gone and, for a `local` server, what its supervisor saw.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.runtime import Runtime, iso
from engine.store.db import among
from engine.store.models import Deployment, Server

log = logging.getLogger(__name__)
SEEN_RESOLUTION = dt.timedelta(seconds=5)
SWEEP_EVERY = 5.0  # seconds between two looks for gone agents (at most)


def seen(runtime: Runtime, server: Server, now: dt.datetime) -> bool:
    """Record, in the caller's unit of work, that the server's agent reached the guest API now.
    True on its first contact ever (the caller wakes the server resource that waits for it)."""
    first = server.first_contact_at is None
    if first:
        server.first_contact_at = now
    if server.last_seen_at is None or now - server.last_seen_at >= _resolution(runtime):
        server.last_seen_at = now
    return first


def _resolution(runtime: Runtime) -> dt.timedelta:
    grace = runtime.config.agent_gone_grace
    return min(SEEN_RESOLUTION, dt.timedelta(seconds=grace / 4)) if grace > 0 else SEEN_RESOLUTION


def seen_loaded(runtime: Runtime, session: Session, servers: Iterable[Any], now: dt.datetime) -> None:
    """`seen` for many servers read in `session` (objects or rows with their id, first contact
    and last seen), in at most two UPDATE statements."""
    resolution = _resolution(runtime)
    first = [server.id for server in servers if server.first_contact_at is None]
    stale = [
        server.id
        for server in servers
        if server.first_contact_at is not None
        and (server.last_seen_at is None or now - server.last_seen_at >= resolution)
    ]
    if first:
        session.execute(
            update(Server)
            .where(among(session, Server.id, first), Server.first_contact_at.is_(None))
            .values(first_contact_at=now, last_seen_at=now)
            .execution_options(synchronize_session=False)
        )
    if stale:
        session.execute(
            update(Server)
            .where(among(session, Server.id, stale))
            .values(last_seen_at=now)
            .execution_options(synchronize_session=False)
        )


def seen_many(session: Session, server_ids: list[str], now: dt.datetime) -> None:
    """`seen` for agents already known (not a first contact), many in one statement."""
    session.execute(
        update(Server)
        .where(among(session, Server.id, server_ids), Server.deleted_at.is_(None), Server.first_contact_at.is_not(None))
        .values(last_seen_at=now)
    )


def patience(config: Any) -> dt.timedelta | None:
    """How long an agent may go unseen before it counts as gone; None when the check is off."""
    if config.agent_gone_grace <= 0:
        return None
    return dt.timedelta(seconds=config.agent_gone_grace + config.longpoll_max_wait)


def health(config: Any, first_contact: dt.datetime | None, last_seen: dt.datetime | None, now: dt.datetime) -> str:
    """A server's agent as the gone-agent rule sees it: `never seen` (no first contact yet),
    `gone` (unseen for longer than `patience`) or `alive` (also when the check is off)."""
    if first_contact is None:
        return "never seen"
    allowed = patience(config)
    seen = last_seen or first_contact
    return "gone" if allowed is not None and now - seen > allowed else "alive"


class GoneAgents:
    """Fails the waiting deployments of servers whose agent is gone; `sweep` is called from the
    scheduler's loop and looks at most every SWEEP_EVERY seconds (one query)."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.started_at = runtime.now()
        self._next = 0.0

    def patience(self) -> dt.timedelta | None:
        """How long an agent may go unseen; None when the check is off."""
        return patience(self.runtime.config)

    def sweep(self) -> int:
        """Fail what waits on a gone agent; the number of deployments failed."""
        patience = self.patience()
        if patience is None or time.monotonic() < self._next:
            return 0
        self._next = time.monotonic() + min(SWEEP_EVERY, patience.total_seconds() / 4)
        runtime, now = self.runtime, self.runtime.now()
        if now - self.started_at < patience:
            return 0  # nobody could reach us while we were down: give them the time again
        cutoff = now - patience
        failed = []
        with runtime.store.session() as session:
            rows = session.execute(
                select(Deployment.id, Deployment.stack_id, Deployment.resource_name, Server)
                .join(Server, Server.id == Deployment.server_id)
                .where(
                    Deployment.status == "IN_PROGRESS",
                    Server.deleted_at.is_(None),
                    Server.last_seen_at.is_not(None),
                    Server.last_seen_at < cutoff,
                )
            ).all()
            for deployment_id, stack_id, resource_name, server in rows:
                reason = self.reason(server, now)
                # Only if it still waits: a signal that arrived meanwhile wins.
                done = session.execute(
                    update(Deployment)
                    .where(Deployment.id == deployment_id, Deployment.status == "IN_PROGRESS")
                    .values(status="FAILED", status_reason=reason, updated_at=now)
                )
                if done.rowcount:
                    failed.append((stack_id, resource_name))
                    log.warning("deployment %s failed: %s", deployment_id, reason)
        for stack_id, resource_name in failed:
            if stack_id:
                runtime.wake(stack_id, resource_name)
        return len(failed)

    def reason(self, server: Server, now: dt.datetime) -> str:
        grace = self.runtime.config.agent_gone_grace
        away = int((now - server.last_seen_at).total_seconds())
        reason = (
            f"the agent of server '{server.name}' ({server.id}) is gone: not seen since "
            f"{iso(server.last_seen_at)} ({away} s ago; no metadata request and no signal "
            f"for longer than agent_gone_grace, {grace} s, after its last long-poll)"
        )
        compute = self.runtime.compute
        status = compute.agent_status(server.id) if server.driver == compute.name else None
        if status:
            last = (status.get("last_exit") or {}).get("status")
            reason += (
                f"; its local agent process is {status.get('state')}, restarted "
                f"{status.get('restarts', 0)} time(s)"
                + (f", last exit: {last}" if last else "")
                + " (see agent.log in its folder)"
            )
        return reason
