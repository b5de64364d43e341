"""Collectors: the registry built by ``collectors()``, the one interface every collector implements,
and its two error families; no I/O here (each collector does its own).

A collector is a class built as ``Collector(session, bootstrap)``; the constructor raises
NotConfigured when the bootstrap gives it nothing to collect from. An instance offers:

``name``
    the name used in the bootstrap's ``collectors`` list (and for its cache file).
``fetch(since, wait) -> Fetch``
    one look at the source. ``since`` is the version of its last good answer (None: give the
    whole document); ``wait`` is how long the call may be held open waiting for a change.
    Raises Unavailable when the source is configured but cannot answer now.
``wait_for_change(stop, wait)``
    block until another fetch is worth making, or ``stop`` is set: at once for a long-poll,
    a polling interval for a poller, a file-system event for a watched directory.
``close()``
    release what the collector holds and wake a ``wait_for_change`` in progress.

The built-in ``hearth``, ``request`` and ``local`` collectors are written exactly this way;
a third-party collector is one more entry in ``collectors()``. The collectors that talk to the
Hearth server itself (agent.config.HEARTH_COLLECTORS) are also given the agent's Replicas, as
``Collector(session, bootstrap, replicas)``, to poll whichever guest API replica is in use.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import requests

from agent.config import HEARTH_COLLECTORS, Bootstrap
from agent.replicas import Replicas

LOG = logging.getLogger("hearth.agent.collectors")


class NotConfigured(Exception):
    """The collector has nothing to collect from here: skip it quietly."""


class Unavailable(Exception):
    """The source is configured but cannot answer now: keep the last good metadata and retry.

    ``kind`` is "network", "server", "rate-limited" or "auth"; or "moved" when a guest API
    replica went away right after answering (the source asks again at once, elsewhere, without
    counting a failure). ``retry_after`` is the server's Retry-After in seconds when it gave one.
    """

    def __init__(self, message: str, kind: str = "network", retry_after: float | None = None):
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after


@dataclass(frozen=True)
class Fetch:
    """One answer: ``changed`` False means the version given as ``since`` still holds."""

    changed: bool
    version: Any = None
    metadata: dict[str, Any] | None = None


class Collector(Protocol):
    """The interface described above, for the type checker."""

    name: str

    def fetch(self, since: Any = None, wait: float = 0.0) -> Fetch: ...

    def wait_for_change(self, stop: threading.Event, wait: float) -> None: ...

    def close(self) -> None: ...


def collectors() -> dict[str, Callable[..., Collector]]:
    """Build the registry; a third-party collector is one more entry here, written the same way."""
    from agent.collectors.hearth import HearthCollector
    from agent.collectors.local import LocalCollector
    from agent.collectors.request import RequestCollector

    return {
        "hearth": HearthCollector,
        "request": RequestCollector,
        "local": LocalCollector,
    }


def make_collectors(
    bootstrap: Bootstrap, session: requests.Session, replicas: Replicas | None = None
) -> list[Collector]:
    """Every collector named in the bootstrap that exists here and is configured, in its order."""
    registry = collectors()
    made: list[Collector] = []
    for name in bootstrap.collectors:
        if name not in registry:
            LOG.info("collector %r is not part of hearth-agent; skipping it", name)
            continue
        try:
            if name in HEARTH_COLLECTORS and replicas is not None:
                made.append(registry[name](session, bootstrap, replicas))
            else:
                made.append(registry[name](session, bootstrap))
        except NotConfigured as exc:
            LOG.info("collector %r is not configured (%s); skipping it", name, exc)
    if not made:
        raise NotConfigured(f"no usable collector among {list(bootstrap.collectors)}")
    return made
