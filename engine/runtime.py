"""Runtime: the services a resource handler may use (store, clock, keys, compute, notification),
held as one value; it does no I/O itself (publish_* reach the in-memory Notifier, whose bridge
queues them for the other replicas)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.config import Config
from engine.store.crypto import Keyring
from engine.store.db import Store
from engine.store.notify import Notifier

if TYPE_CHECKING:  # both import what imports this module
    from engine.compute.base import ComputeDriver
    from engine.orchestration.nested import ChildStacks


def utcnow() -> dt.datetime:
    """Naive UTC, as stored in the database."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def iso(moment: dt.datetime | None) -> str | None:
    """A stored (naive UTC) time as Heat's APIs print it: 2026-12-06T05:30:33Z; None stays None."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else None


def iso_epoch(epoch: float) -> str:
    """A time.time() value in the same form as iso()."""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def keystone_iso(moment: dt.datetime) -> str:
    """Keystone's form, with six zero microseconds: 2026-12-06T05:30:33.000000Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000000Z")


@dataclass
class Runtime:
    config: Config
    store: Store
    keyring: Keyring
    notifier: Notifier
    compute: ComputeDriver
    clock: Callable[[], dt.datetime] = utcnow
    # Set by the scheduler: wake a waiting resource of a stack (None: any of them) that may now be
    # done. It publishes `wake:<stack>:<resource>` through the notifier, so it reaches the replica
    # that drives the stack wherever the signal arrived (engine/orchestration/scheduler.py).
    wake: Callable[..., None] = lambda stack_id, resource=None: None
    # Set by the service: a guest was answered with this version of its server's document
    # (engine.guest.traces.Deliveries.note: when each deployment entry reached its server).
    delivered: Callable[[str, int], None] = lambda server_id, version: None
    # Set by the service when OpenTelemetry export is on: a stack's operation ended and is
    # committed (engine.otel.OperationSpans.ended).
    operation_ended: Callable[[str, int], None] = lambda stack_id, operation: None
    # Set by the service: create, update, delete and read nested stacks.
    stacks: ChildStacks | None = None
    # Set by the service: scaling by signals (engine.service.scaling.Scaling), told when a
    # nested stack's operation ends (`finished(owner, resource)`) and swept now and then.
    scaling: Any = None

    @property
    def public_url(self) -> str:
        return self.config.resolved_public_url

    @property
    def api_url(self) -> str:
        return self.config.resolved_api_url

    def now(self) -> dt.datetime:
        return self.clock()

    # Both are called after the change is committed: a replica that hears the topic re-reads the
    # store, and must find the change there.
    def publish_server(self, server_id: str, metadata: tuple[int, dict] | None = None) -> None:
        """The server's metadata changed; `metadata` is its new (version, document) if known. The
        other replicas receive the version alone (the hint), so that their waiting agents that
        already have it read nothing."""
        self.notifier.publish("server:" + server_id, metadata, hint=metadata[0] if metadata else None)

    def publish_stack(self, stack_id: str) -> None:
        """The stack's state or events changed (its event streams and waiters re-read it)."""
        self.notifier.publish("stack:" + stack_id)
