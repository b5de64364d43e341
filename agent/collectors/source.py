"""One collector in its own thread: owns that thread and the source's last good document (in
memory, and in ``cache/<name>.json`` through MetadataCache); the collector does the fetching.

It fetches, keeps the last good document, backs off and reports.

The agent's main loop never talks to a collector: it reads ``Source.current`` of every source
after ``report`` (a callable that sets the loop's Event) was called.

Re-polls are spread: the first parked poll after the source starts, and after each failure or
move to another replica, asks for ``poll_wait × uniform(0.05, 1)`` (spread_wait), so agents
that (re)connect together do not come back together one wait later; later polls ask for the
whole ``poll_wait``. A collector's Unavailable of kind "moved" (a replica went away after it
answered) is asked again after at most MOVED_JITTER, with no backoff and no warning.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

from agent.cache import CachedMetadata, MetadataCache
from agent.collectors import Collector, Fetch, Unavailable
from agent.outbox import retry_after_delay

LOG = logging.getLogger("hearth.agent.collectors")

BACKOFF_BASE, BACKOFF_CAP, AUTH_BACKOFF_CAP = 0.5, 30.0, 60.0
AUTH_LOG_EVERY = 20  # a refused credential is logged at the first failure and every 20th
SPREAD_LEAST = 0.05  # the shortest first parked poll, as a fraction of poll_wait
MOVED_JITTER = 0.5  # seconds at most before asking again after a replica went away


def spread_wait(poll_wait: float, jitter: Callable[[], float]) -> float:
    """The wait of a first parked poll: poll_wait × uniform(SPREAD_LEAST, 1)."""
    return poll_wait * (SPREAD_LEAST + (1 - SPREAD_LEAST) * jitter())


def failure_delay(failures: int, exc: Unavailable, jitter: Callable[[], float]) -> float:
    """Seconds before the next look after ``failures`` failed ones in a row: the server's
    Retry-After (plus up to 10 %), else exponential backoff with full jitter, capped. The
    count runs on across replicas, so when every one is down the waits still grow."""
    if exc.retry_after is not None:
        return retry_after_delay(exc.retry_after, jitter)
    cap = AUTH_BACKOFF_CAP if exc.kind == "auth" else BACKOFF_CAP
    bound: float = min(cap, BACKOFF_BASE * 2 ** (failures - 1))
    return bound * jitter()


class Source:
    """``current`` is what the agent merges: the last good answer, or the cached one when down.

    ``settled`` turns True after the first attempt, good or not, so the first pass can wait
    until every source had its say. ``lock`` is shared by all sources of one agent: a source
    that was stopped (by a reload) never writes its cache or reports after its successor began.
    """

    def __init__(
        self,
        collector: Collector,
        cache: MetadataCache,
        report: Callable[[], None],
        *,
        poll_wait: float,
        lock: threading.Lock,
        jitter: Callable[[], float] = random.random,
        previous: CachedMetadata | None = None,
    ):
        self.name = collector.name
        self.collector = collector
        self._cache = cache
        self._report = report
        self._poll_wait = poll_wait
        self._lock = lock
        self._jitter = jitter
        self._stop = threading.Event()
        self._failures = 0
        self._spread = True  # the next parked poll asks for a spread_wait
        self.current: CachedMetadata | None = previous
        self.settled = previous is not None
        self._fallback = previous if previous is not None else cache.load()
        self.thread: threading.Thread | None = None

    # -- life cycle ------------------------------------------------------------------------
    def start(self) -> None:
        self._start(self._run_forever)

    def start_once(self) -> None:
        self._start(self._run_once)

    def stop(self) -> None:
        with self._lock:
            self._stop.set()
        self.collector.close()

    def _start(self, target: Callable[[], None]) -> None:
        self.thread = threading.Thread(target=target, name=f"hearth-{self.name}", daemon=True)
        self.thread.start()

    # -- the two modes -------------------------------------------------------------------------
    def _run_once(self) -> None:
        """One look without waiting; the cached document when the source cannot answer."""
        try:
            answer = self.collector.fetch(None, 0.0)
        except Unavailable as exc:
            LOG.warning("%s: source unavailable: %s", self.name, exc)
            self._use_fallback(logging.WARNING)
            return
        except Exception:  # a collector bug must not stop the other sources
            LOG.exception("%s: collector failed", self.name)
            self._use_fallback(logging.WARNING)
            return
        self._accept(answer)

    def _run_forever(self) -> None:
        since = None  # the first look asks for the whole document, without waiting
        while not self._stop.is_set():
            wait = 0.0 if since is None else self._poll_wait
            if wait and self._spread:
                wait, self._spread = spread_wait(wait, self._jitter), False
            try:
                answer = self.collector.fetch(since, wait)
            except Unavailable as exc:
                self._spread = True
                if exc.kind == "moved":
                    LOG.debug("%s: %s; asking again", self.name, exc)
                    self._stop.wait(MOVED_JITTER * self._jitter())
                    continue
                self._use_fallback(logging.INFO)
                self._back_off(exc)
                continue
            except Exception as exc:
                LOG.exception("%s: collector failed", self.name)
                self._spread = True
                self._use_fallback(logging.INFO)
                self._back_off(Unavailable(f"{type(exc).__name__}: {exc}", kind="server"))
                continue
            self._recovered()
            if answer.changed:
                since = answer.version
                self._accept(answer)
            elif not self.settled:
                self._settle(None)
            self.collector.wait_for_change(self._stop, wait)

    # -- keeping the last good document ----------------------------------------------------
    def _accept(self, answer: Fetch) -> None:
        with self._lock:
            if self._stop.is_set():
                return
            previous, metadata = self.current, answer.metadata
            assert metadata is not None  # a changed Fetch carries its document
            news = previous is None or previous.metadata != metadata
            if news or (previous is not None and previous.version != answer.version):
                if news:
                    LOG.info("%s: metadata version %s received", self.name, answer.version)
                try:
                    self.current = self._cache.store(answer.version, metadata)
                except OSError as exc:  # still act on what we received; the cache is a fallback
                    LOG.error("%s: cannot write the metadata cache: %s", self.name, exc)
                    self.current = CachedMetadata(answer.version, metadata, time.time())
            news = news or not self.settled
            self.settled = True
        if news:
            self._report()

    def _use_fallback(self, level: int) -> None:
        """At the first failed look, fall back on the cached document (if any)."""
        if self.settled:
            return
        if self._fallback is not None:
            LOG.log(level, "%s: working from cached metadata version %s", self.name, self._fallback.version)
        self._settle(self._fallback)

    def _settle(self, document: CachedMetadata | None) -> None:
        with self._lock:
            if self._stop.is_set() or self.settled:
                return
            if document is not None:
                self.current = document
            self.settled = True
        self._report()

    # -- failures --------------------------------------------------------------------------
    def _back_off(self, exc: Unavailable) -> None:
        self._failures += 1
        if exc.kind == "auth":
            if self._failures == 1 or self._failures % AUTH_LOG_EVERY == 0:
                LOG.error(
                    "%s: the source refused this server's credential (%s); check the "
                    "bootstrap document; retrying with backoff",
                    self.name,
                    exc,
                )
        elif self._failures == 1:
            LOG.warning("%s: source unavailable (%s); keeping its last good metadata", self.name, exc)
        delay = failure_delay(self._failures, exc, self._jitter)
        LOG.debug("%s: fetch failed (%s); retrying in %.1f s", self.name, exc, delay)
        self._stop.wait(delay)

    def _recovered(self) -> None:
        if self._failures:
            LOG.info("%s: source reachable again after %d failed attempt(s)", self.name, self._failures)
            self._failures = 0
