"""Change notification: owns each topic's counter, its waiters (threads and asyncio tasks) and its
subscribers; reaches other replicas only through the bridge it is given (engine/store/pg_notify.py
on PostgreSQL), and touches no database, file or network itself.

A topic names what changed (`server:<id>`, `stack:<id>`, `wake:<stack>:<resource>`, ...). Whoever
commits a change publishes its topic after the commit; waiters block until the topic's counter
moves past what they have seen, then re-read the store (or use the local payload). Subscribers
are called for every publish whose topic starts with their prefix: the scheduler hears wakes and
new operations that way, from this process or, through the bridge, from any other replica.

Without a bridge (SQLite, one process) a publish reaches this process only.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

log = logging.getLogger(__name__)
EVERYTHING = "*"  # published to subscribers when changes may have been missed (a bridge reconnected)


class Bridge(Protocol):
    def send(self, topic: str, hint: int | None) -> None:
        """Forward a local publish to the other replicas (after the change is committed)."""


class Notifier:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conditions: dict[str, tuple[threading.Condition, list[int]]] = {}
        self._latest: dict[str, Any] = {}
        self._hints: dict[str, int] = {}
        self._unknown_at: dict[str, int] = {}  # topic -> its counter at its last publish without a hint
        self._published_at: dict[str, float] = {}  # topic -> time.monotonic() of its last publish heard here
        self._async: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]]]] = {}
        self._subscribers: list[tuple[str, Callable[[str], None]]] = []
        self.bridge: Bridge | None = None

    def _entry(self, topic: str) -> tuple[threading.Condition, list[int]]:
        with self._lock:
            entry = self._conditions.get(topic)
            if entry is None:
                entry = (threading.Condition(), [0])
                self._conditions[topic] = entry
            return entry

    def subscribe(self, prefix: str, callback: Callable[[str], None]) -> None:
        """Call `callback(topic)` on every publish whose topic starts with `prefix`, and with
        EVERYTHING when changes may have been missed. It runs on the publishing thread (or the
        bridge's): it must only hand the topic on, never block."""
        with self._lock:
            self._subscribers.append((prefix, callback))

    def publish(self, topic: str, payload: Any = None, *, hint: int | None = None, remote: bool = False) -> None:
        """Wake the topic's waiters and subscribers, here and (unless it came from there) on the
        other replicas. `payload` is what changed, for this process's waiters only (so a woken
        waiter need not read the store); publishing without one forgets an earlier payload.
        `hint` is a small version number that travels to the other replicas with the topic (a
        server's metadata version), so that their waiters can tell "nothing new" without a read."""
        self._publish(topic, payload, hint, remote, None)

    def publish_many(self, items: Iterable[tuple[str, int | None]], *, remote: bool = False) -> None:
        """`publish(topic, hint=hint, remote=remote)` for each (topic, hint), with the asyncio
        waiters they wake resolved in one call per event loop rather than one each (another
        replica's burst of thousands of topics, engine/store/pg_notify.py). A subscriber that
        fails is logged; the other topics are still published."""
        woken: dict[asyncio.AbstractEventLoop, list[asyncio.Future[Any]]] = {}
        try:
            for topic, hint in items:
                try:
                    self._publish(topic, None, hint, remote, woken)
                except Exception:
                    log.exception("a change notification's subscriber failed (topic %s)", topic)
        finally:
            for loop, futures in woken.items():
                try:
                    loop.call_soon_threadsafe(_resolve_all, futures)
                except RuntimeError:  # that loop has closed: nobody waits on it any more
                    pass

    def _publish(
        self,
        topic: str,
        payload: Any,
        hint: int | None,
        remote: bool,
        woken: dict[asyncio.AbstractEventLoop, list[asyncio.Future[Any]]] | None,
    ) -> None:
        if hint is None and isinstance(payload, tuple) and payload and isinstance(payload[0], int):
            hint = payload[0]
        with self._lock:
            if payload is None:
                self._latest.pop(topic, None)
            else:
                self._latest[topic] = payload
            if hint is None:
                self._hints.pop(topic, None)
            else:
                # Versions only grow, but two replicas' notifications may arrive out of order.
                self._hints[topic] = max(hint, self._hints.get(topic, hint))
            subscribers = [callback for prefix, callback in self._subscribers if topic.startswith(prefix)]
        self._wake(topic, unknown=hint is None, woken=woken)
        for callback in subscribers:
            callback(topic)
        if not remote and self.bridge is not None:
            self.bridge.send(topic, hint)

    def publish_everything(self) -> None:
        """Changes may have been missed (the bridge lost its connection for a while): every waiter
        re-reads the store and every subscriber hears EVERYTHING."""
        with self._lock:
            topics = set(self._conditions) | set(self._async)
            self._latest.clear()
            self._hints.clear()
            subscribers = [callback for _prefix, callback in self._subscribers]
        for topic in topics:
            self._wake(topic, unknown=True)
        for callback in subscribers:
            callback(EVERYTHING)

    def _wake(
        self,
        topic: str,
        unknown: bool,
        woken: dict[asyncio.AbstractEventLoop, list[asyncio.Future[Any]]] | None = None,
    ) -> None:
        # A topic nobody has waited on has no entry, and gets none: every waiter notes the
        # counter (making the entry) before it reads the store, so a publish before that is seen
        # by its read. Topics only subscribers hear (wake:, load:) leave nothing behind.
        with self._lock:
            entry = self._conditions.get(topic)
            if entry is not None:  # the time of a publish somebody waits on (a long-poll's wake-up latency)
                self._published_at[topic] = time.monotonic()
        if entry is None:
            return
        condition, counter = entry
        with condition:
            counter[0] += 1
            if unknown:
                with self._lock:
                    self._unknown_at[topic] = counter[0]
            condition.notify_all()
        with self._lock:
            futures = self._async.pop(topic, [])
        if woken is not None:  # resolved by the caller, together
            for loop, future in futures:
                woken.setdefault(loop, []).append(future)
            return
        for loop, future in futures:
            try:
                loop.call_soon_threadsafe(_resolve, future)
            except RuntimeError:  # that loop has closed: nobody waits on it any more
                pass

    def latest(self, topic: str) -> Any:
        """The payload of the topic's newest publish in this process, if it carried one."""
        with self._lock:
            return self._latest.get(topic)

    def hint(self, topic: str) -> int | None:
        """The highest version hint published for the topic (here or on another replica) since it
        was last published without one, if any."""
        with self._lock:
            return self._hints.get(topic)

    def newer(self, topic: str, seen: int, version: int) -> bool:
        """Whether what was published on the topic after its counter stood at `seen` may be
        newer than `version`: a publish without a hint (or EVERYTHING) may be, and so is a hint
        above `version`. False lets a waiter that has `version` skip reading the store."""
        with self._lock:
            if self._unknown_at.get(topic, 0) > seen:
                return True
            hint = self._hints.get(topic)
        return hint is None or hint > version

    def counter(self, topic: str) -> int:
        """How many times the topic was published here: a waiter notes it before reading the
        store, then waits for it to move (so nothing published in between is missed)."""
        condition, counter = self._entry(topic)
        with condition:
            return counter[0]

    def wait(self, topic: str, changed: Callable[[], bool], timeout: float) -> bool:
        """Block until `changed()` is true (re-checked after each publish) or `timeout` passes.
        At the timeout `changed()` is asked once more only if something was published since it
        was last asked: a wait that saw nothing costs no read at its end."""
        condition, counter = self._entry(topic)
        deadline = time.monotonic() + timeout
        with condition:
            seen = counter[0]
        while True:
            if changed():
                return True
            with condition:
                while counter[0] == seen:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    condition.wait(remaining)
                seen = counter[0]

    async def wait_async(self, topic: str, seen: int, timeout: float) -> bool:
        """In an asyncio task: wait, holding no thread, until the topic's counter moves past
        `seen` (True) or `timeout` passes (False)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if not self.park(topic, seen, future):
            return True
        try:
            await asyncio.wait_for(future, timeout)
            return True
        except TimeoutError:
            return False
        finally:
            self.unpark(topic, future)

    def park(self, topic: str, seen: int, future: asyncio.Future[Any]) -> bool:
        """Resolve `future` (with None, on its loop) at the topic's next publish: the cheapest
        wait, for whoever keeps its own time (metadata_server/longpoll.py). False, registering
        nothing, when the counter has already moved past `seen`. Call `unpark` when done."""
        condition, counter = self._entry(topic)
        with condition:
            if counter[0] != seen:
                return False
            with self._lock:
                self._async.setdefault(topic, []).append((future.get_loop(), future))
        return True

    def unpark(self, topic: str, future: asyncio.Future[Any]) -> None:
        """Forget a future `park` registered (if no publish has taken it yet)."""
        with self._lock:
            waiters = self._async.get(topic)
            if waiters is not None:
                waiters[:] = [w for w in waiters if w[1] is not future]
                if not waiters:
                    del self._async[topic]

    def published_at(self, topic: str) -> float | None:
        """When (time.monotonic()) the topic's newest publish was heard in this process: here, or
        from another replica through the bridge; None if never since somebody waited on it."""
        with self._lock:
            return self._published_at.get(topic)

    def waiting(self) -> int:
        """Asyncio waiters parked now (threads in `wait` are not counted)."""
        with self._lock:
            return sum(len(w) for w in self._async.values())


def _resolve(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_result(None)


def _resolve_all(futures: list[asyncio.Future[Any]]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(None)
