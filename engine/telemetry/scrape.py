"""What `GET /metrics` answers (docs/operations.md, Metrics): this replica's instruments (or, under
gunicorn, every worker's, summed by prometheus-client's multiprocess mode), the process' own
metrics, `hearth_build_info`, and gauges of the shared store read at scrape time. Touches the store
only when scraped, with one aggregate query per gauge family, cached for CACHE_SECONDS so that a
storm of scrapes (several Prometheus servers, a dashboard's refreshes) reads it once.

The store's gauges describe the shared database, not the replica: every replica reports the same
values, so a dashboard aggregates them with `max`, not `sum`.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import platform
import threading
import time
from collections.abc import Iterable, Iterator
from importlib import metadata
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import and_, case, false, func, select

from engine.guest import liveness
from engine.store.models import Event, EventCursor, EventSequence, EventSink, Resource, Server, Stack
from engine.telemetry.instruments import SINK_KINDS

if TYPE_CHECKING:
    from engine.runtime import Runtime

log = logging.getLogger(__name__)
CACHE_SECONDS = 2.0  # a scrape within this long of the last one answers the store's gauges it read
SINKS_MOST = 20  # sink kinds reported at most (there are two; a guard, not a limit anyone meets)
NOTIFICATIONS = "notifications"  # the notifications publisher's consumer (engine/notifications/delivery.py)
HEALTHS = ("healthy", "gone", "never_seen")
MULTIPROCESS = "PROMETHEUS_MULTIPROC_DIR"


class Scrape:
    """Renders `/metrics` for one replica: `render()` is (body, content type), called off the
    event loop (it may read the store)."""

    def __init__(self, runtime: Runtime) -> None:
        self.store_gauges = StoreGauges(runtime)
        self.build = BuildInfo()

    def render(self) -> tuple[bytes, str]:
        return generate_latest(_Together(self._sources())), CONTENT_TYPE_LATEST  # type: ignore[arg-type]

    def _sources(self) -> list[Any]:
        directory = os.environ.get(MULTIPROCESS)
        if directory:
            from prometheus_client import multiprocess

            # Every worker's files; process metrics are per process and are left out here.
            return [multiprocess.MultiProcessCollector(None, path=directory), self.build, self.store_gauges]
        return [REGISTRY, self.build, self.store_gauges]


class _Together:
    """Several collectors as the one registry generate_latest reads."""

    def __init__(self, sources: Iterable[Any]) -> None:
        self.sources = list(sources)

    def collect(self) -> Iterator[Metric]:
        for source in self.sources:
            yield from source.collect()


class BuildInfo(Collector):
    """`hearth_build_info{version, python}` 1: what a replica runs, for joins and upgrades."""

    def __init__(self) -> None:
        try:
            version = metadata.version("hearth")
        except metadata.PackageNotFoundError:  # a source tree that was never installed
            version = "unknown"
        self.labels = [version, platform.python_version()]

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "hearth_build_info", "Hearth's version and Python's on this replica", labels=["version", "python"]
        )
        family.add_metric(self.labels, 1)
        yield family


class StoreGauges(Collector):
    """Gauges of the shared store, read when scraped (at most once per CACHE_SECONDS): stacks and
    resources by action and status, agents by health, and how far behind each kind of event
    consumer is. Each is one aggregate query (a GROUP BY, or a join on the event log's unique
    index per active sink); none is labelled by anything a user names."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._lock = threading.Lock()
        self._cached: list[Metric] = []
        self._at = -CACHE_SECONDS
        self.cache_seconds = CACHE_SECONDS

    def collect(self) -> Iterator[Metric]:
        with self._lock:  # concurrent scrapes wait for the one read rather than each reading
            if time.monotonic() - self._at >= self.cache_seconds:
                try:
                    self._cached = self._read()
                except Exception:
                    log.exception("reading the store's gauges for /metrics failed")
                    self._cached = []
                self._at = time.monotonic()
            cached = list(self._cached)
        yield from cached

    def _read(self) -> list[Metric]:
        now = self.runtime.now()
        stacks = GaugeMetricFamily(
            "hearth_stacks",
            "Stacks in the store (nested ones too, deleted ones not), by action and status",
            labels=["action", "status"],
        )
        resources = GaugeMetricFamily(
            "hearth_resources",
            "Resources of the stacks in the store, by action and status",
            labels=["action", "status"],
        )
        agents = GaugeMetricFamily(
            "hearth_agents",
            "Servers in the store by their agent's health (engine/guest/liveness.py's rule)",
            labels=["health"],
        )
        lag = GaugeMetricFamily(
            "hearth_event_delivery_lag_seconds",
            "Age of the oldest event an event consumer has not passed yet (0 when it has them all), the worst of each kind: webhook and zaqar-queue sinks, the notifications publisher",
            labels=["sink"],
        )
        with self.runtime.store.session() as session:
            query = (
                select(Stack.action, Stack.status, func.count())
                .where(Stack.deleted_at.is_(None))
                .group_by(Stack.action, Stack.status)
            )
            for action, status, count in session.execute(query):
                stacks.add_metric([action, status], count)
            query = (
                select(Resource.action, Resource.status, func.count())
                .join(Stack, Stack.id == Resource.stack_id)
                .where(Stack.deleted_at.is_(None))
                .group_by(Resource.action, Resource.status)
            )
            for action, status, count in session.execute(query):
                resources.add_metric([action, status], count)
            counts = dict.fromkeys(HEALTHS, 0)
            # engine/guest/liveness.health's rule as one GROUP BY: never seen without a first
            # contact, gone when unseen past its patience (never while that check is off).
            seen = func.coalesce(Server.last_seen_at, Server.first_contact_at)
            allowed = liveness.patience(self.runtime.config)
            gone = seen < now - allowed if allowed is not None else false()
            health = case((Server.first_contact_at.is_(None), "never_seen"), (gone, "gone"), else_="healthy")
            query = select(health, func.count()).where(Server.deleted_at.is_(None)).group_by(health)
            counts.update(dict(session.execute(query).all()))
            for name in HEALTHS:
                agents.add_metric([name], counts[name])
            heads = dict.fromkeys(SINK_KINDS, None) | dict(self._sink_heads(session))
            for kind, oldest in heads.items():
                lag.add_metric([kind], _age(now, oldest))
            if self.runtime.config.notification_transport_url:
                lag.add_metric([NOTIFICATIONS], _age(now, self._notifications_head(session)))
        return [stacks, resources, agents, lag]

    @staticmethod
    def _sink_heads(session: Any) -> list[tuple[str, dt.datetime | None]]:
        """Per kind of active sink, the time of the oldest event at the head of a sink's stream
        (the event numbered one past its cursor: the project's numbers have no gap)."""
        cursor = and_(EventCursor.consumer == EventSink.consumer, EventCursor.project == EventSink.project)
        head = and_(Event.project == EventSink.project, Event.project_seq == func.coalesce(EventCursor.position, 0) + 1)
        query = (
            select(EventSink.kind, func.min(Event.created_at))
            .outerjoin(EventCursor, cursor)
            .outerjoin(Event, head)
            .where(EventSink.state == "active")
            .group_by(EventSink.kind)
            .limit(SINKS_MOST)
        )
        return [(kind, oldest) for kind, oldest in session.execute(query)]

    @staticmethod
    def _notifications_head(session: Any) -> dt.datetime | None:
        cursor = and_(EventCursor.consumer == NOTIFICATIONS, EventCursor.project == EventSequence.project)
        head = and_(
            Event.project == EventSequence.project, Event.project_seq == func.coalesce(EventCursor.position, 0) + 1
        )
        query = (
            select(func.min(Event.created_at))
            .select_from(EventSequence)
            .outerjoin(EventCursor, cursor)
            .join(Event, head)
            .where(EventSequence.last > func.coalesce(EventCursor.position, 0))
        )
        return session.scalar(query)


def _age(now: dt.datetime, oldest: dt.datetime | None) -> float:
    return max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
