"""PgBridge: carries the Notifier's publishes between the replicas that share one PostgreSQL
database with LISTEN/NOTIFY; owns two autocommit connections (one listens, one sends) and their
two daemon threads, and touches no table, file or other network peer.

A payload is the sender's origin then one topic per line, with its version hint after a space:

    web-1/3fa2c1
    server:6d1c... 7
    stack:9e0b...

Topics are percent-encoded where they hold anything but `SAFE` characters (a resource name may
hold a space), so a line splits without doubt. Many topics share one NOTIFY, each payload under
PostgreSQL's 8000-byte limit, and one statement sends all the payloads of a batch: a burst of
commits costs a few round trips, not one per topic.

The receiving side publishes each topic to its own Notifier with `remote=True` (so it is not
sent back) and skips what its own origin sent. After its connection comes back it publishes
EVERYTHING: changes committed while it was away were not heard.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote, unquote

import psycopg
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import make_url

from engine.store.notify import Notifier

log = logging.getLogger(__name__)

CHANNEL = "hearth"
PAYLOAD_LIMIT = 7900  # bytes; PostgreSQL refuses a payload of 8000 or more
SAFE = ":/-_.@+=,~"  # topic characters sent as they are (ids, names, the separators of topics)
POLL = 0.25  # seconds between the listener's looks at stop(): how prompt stop() is
BACKOFF_FIRST, BACKOFF_CAP = 0.1, 5.0  # seconds between reconnection attempts, doubling
CONNECT_TIMEOUT = 5  # seconds; a connection attempt to a host that does not answer gives up
# TCP keepalives let a listener notice a peer that vanished without closing (a host lost, a
# network cut): it would otherwise wait for notifications that never come.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}


def conninfo(url: str) -> str:
    """The libpq connection string of a SQLAlchemy PostgreSQL URL (postgresql+psycopg://...)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"LISTEN/NOTIFY needs a PostgreSQL store, not {parsed.get_backend_name()}")
    params: dict[str, str | int | None] = {"connect_timeout": CONNECT_TIMEOUT, **KEEPALIVES}
    for key, value in parsed.query.items():
        params[key] = value if isinstance(value, str) else value[-1]
    params.update(parsed.translate_connect_args(username="user", database="dbname"))
    return make_conninfo("", **{key: value for key, value in params.items() if value is not None})


def encode(origin: str, items: Iterable[tuple[str, int | None]]) -> list[str]:
    """The NOTIFY payloads that carry `items` (topic, hint), as few as fit under the limit."""
    header = quote(origin, safe=SAFE)
    payloads: list[str] = []
    lines: list[str] = []
    size = len(header)
    for topic, hint in items:
        line = quote(topic, safe=SAFE) + ("" if hint is None else f" {hint}")
        if len(header) + 1 + len(line) >= PAYLOAD_LIMIT:
            log.warning("topic of %d characters not sent to the other replicas: too long for NOTIFY", len(topic))
            continue
        if lines and size + 1 + len(line) >= PAYLOAD_LIMIT:
            payloads.append("\n".join([header, *lines]))
            lines, size = [], len(header)
        lines.append(line)
        size += 1 + len(line)
    if lines:
        payloads.append("\n".join([header, *lines]))
    return payloads


def decode(payload: str) -> tuple[str, list[tuple[str, int | None]]]:
    """(origin, [(topic, hint), ...]) of a payload made by `encode`."""
    origin, *lines = payload.split("\n")
    items: list[tuple[str, int | None]] = []
    for line in lines:
        topic, _, hint = line.partition(" ")
        if topic:
            items.append((unquote(topic), int(hint) if hint.lstrip("-").isdigit() else None))
    return unquote(origin), items


class PgBridge:
    """The Notifier's bridge to the other replicas (`notifier.bridge` once built). `send` only
    queues; `start` connects and listens; `stop` sends what is queued, then closes."""

    def __init__(self, url: str, node: str, notifier: Notifier):
        self.node = node
        # Two processes given the same node name by mistake must still hear each other.
        self.origin = f"{node}/{secrets.token_hex(3)}"
        self.notifier = notifier
        self._conninfo = conninfo(url)
        self._queued: dict[str, int | None] = {}  # topic -> newest hint, in first-queued order
        self._queue = threading.Condition()
        self._stopping = threading.Event()
        self._closed = False
        self._listening = threading.Event()
        self._threads: list[threading.Thread] = []
        notifier.bridge = self

    # Sending ------------------------------------------------------------------------------
    def send(self, topic: str, hint: int | None) -> None:
        """Queue a committed change for the other replicas; never blocks on the network."""
        with self._queue:
            if self._closed:
                return
            # A topic queued twice goes once, with its newest hint: the queue is bounded by
            # the number of distinct topics however long the database is away.
            self._queued[topic] = hint
            self._queue.notify()

    def _send_loop(self) -> None:
        connection: psycopg.Connection | None = None
        outage: float | None = None
        backoff = BACKOFF_FIRST
        try:
            connection = self._connect("send")  # at once, so that the first publish does not wait for it
        except psycopg.Error:
            pass  # the first send tries again, and says why if it cannot
        while True:
            with self._queue:
                while not self._queued and not self._stopping.is_set():
                    self._queue.wait()
                if not self._queued:
                    break  # stopping, and everything queued was sent
                batch, self._queued = self._queued, {}
            while True:
                try:
                    if connection is None or connection.closed:
                        connection = self._connect("send")
                    # One statement (one transaction): all its notifications, or none of them.
                    connection.execute(
                        "SELECT pg_notify(%s, payload) FROM unnest(%s::text[]) AS payload",
                        (CHANNEL, encode(self.origin, batch.items())),
                    )
                    if outage is not None:
                        log.info("sending change notifications again after %.1f s", time.monotonic() - outage)
                        outage, backoff = None, BACKOFF_FIRST
                    break
                except psycopg.Error as error:
                    _close(connection)
                    connection = None
                    if outage is None:
                        outage = time.monotonic()
                        log.warning(
                            "cannot send change notifications to the other replicas (%s); keeping %d topics "
                            "queued and reconnecting",
                            _reason(error),
                            len(batch),
                        )
                    if self._stopping.is_set():
                        # Dropped: the other replicas lost the database too, most likely, and
                        # their listeners publish everything when they are back.
                        log.warning("stopping: %d change notifications were not sent", len(batch))
                        batch = {}
                        break
                    self._stopping.wait(backoff)
                    backoff = min(backoff * 2, BACKOFF_CAP)
                    # Topics queued while the database was away go with the retried batch: none is
                    # lost to a disconnection (newer hints win).
                    with self._queue:
                        batch.update(self._queued)
                        self._queued = {}
        _close(connection)

    # Receiving ----------------------------------------------------------------------------
    def _listen_loop(self) -> None:
        outage: float | None = None
        backoff = BACKOFF_FIRST
        while not self._stopping.is_set():
            try:
                with self._connect("listen") as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    missed = outage is not None or self._listening.is_set()
                    self._listening.set()
                    if outage is not None:
                        log.info("listening for other replicas' changes again after %.1f s", time.monotonic() - outage)
                    outage, backoff = None, BACKOFF_FIRST
                    if missed:
                        # Listening again: whatever was committed while we were away was not heard.
                        self._deliver(self.notifier.publish_everything)
                    while not self._stopping.is_set():
                        for notification in connection.notifies(timeout=POLL):
                            self._receive(notification.payload)
            except psycopg.Error as error:
                if self._stopping.is_set():
                    break
                if outage is None:
                    outage = time.monotonic()
                    log.warning(
                        "lost the connection that hears other replicas' changes (%s); reconnecting", _reason(error)
                    )
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_CAP)

    def _receive(self, payload: str) -> None:
        try:
            origin, items = decode(payload)
        except ValueError:
            log.warning("ignored a malformed change notification on channel %r", CHANNEL)
            return
        if origin == self.origin:
            return  # our own: its topics were published here already
        self._deliver(self.notifier.publish_many, items, remote=True)

    @staticmethod
    def _deliver(publish: Callable[..., None], *args: Any, **kwargs: Any) -> None:
        try:
            publish(*args, **kwargs)
        except Exception:  # a subscriber's fault must not stop this replica hearing changes
            log.exception("a change notification's subscriber failed")

    # Connections and threads ----------------------------------------------------------------
    def _connect(self, role: str) -> psycopg.Connection:
        # The application name lets an operator (and the tests) tell the two connections apart.
        name = f"hearth {role} {self.node}"[:63]
        return psycopg.connect(self._conninfo, autocommit=True, application_name=name)

    def start(self, timeout: float = 10.0) -> bool:
        """Start sending and listening; True once the listener listens (within `timeout`). When
        the database is not reachable yet it keeps trying, and publishes EVERYTHING when it is."""
        if not self._threads:
            for name, target in (("listen", self._listen_loop), ("send", self._send_loop)):
                thread = threading.Thread(target=target, name=f"hearth-notify-{name}", daemon=True)
                thread.start()
                self._threads.append(thread)
        return self._listening.wait(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """Send what is queued, then close both connections (waiting at most `timeout` in all)."""
        deadline = time.monotonic() + timeout
        with self._queue:
            self._closed = True
            self._stopping.set()
            self._queue.notify_all()
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self.notifier.bridge is self:
            self.notifier.bridge = None


def _close(connection: psycopg.Connection | None) -> None:
    if connection is not None:
        try:
            connection.close()
        except psycopg.Error:
            pass  # already broken: nothing to close cleanly


def _reason(error: psycopg.Error) -> str:
    """The first line of a driver error (no connection string, so no password, is in it)."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
