"""The garbage collector's policy in a serving process (`hearth server`, each gunicorn worker).

CPython's default policy runs a full collection whenever the objects that survived the young
generations since the last one exceed a quarter of the old generation. A parked long-poll's
request state lives until its answer, so a burst that answers every parked agent and takes its
re-poll renews all of that state at once, and the default policy then traverses the whole heap
several times within the burst: measured with 3,000 agents parked on one process, 0.45 s of the
burst's 0.99 s of CPU was the collector (0.37 s of it full collections), and its share grows with
the number of agents. So a serving process:

- freezes what exists when it starts serving (modules, the applications, the engine: never
  garbage) so that no collection traverses it again (`gc.freeze`);
- collects the young generations less often (`YOUNG`, `MIDDLE`): most objects of a request die
  by reference counting before a collection would see them;
- leaves the old generation to one full collection every `gc_full_seconds` on a thread of its own,
  so that reference cycles that outlived a request are still freed within that time. One stops
  the process for as long as it walks every live object (about 85 per parked poll): measured
  0.34–0.79 s per worker with 5,000 agents parked on each of two workers on a loaded 2-core host.
  Under CPython's policy the same run (10,000 agents, two workers) had 15 full collections per
  worker in under 200 s, 6.3 s in all: one every 4–5 s while the agents connected (up to 0.95 s
  each), two or three in a row in the burst, then about one a minute or less. Every 300 s (the
  default) a process pauses at a time of no one's choosing far less often, and holds at most
  300 s of cyclic garbage (up to about 20,000 objects a minute in that run).

`gc_full_seconds` 0 leaves CPython's policy as it is.
"""

from __future__ import annotations

import gc
import logging
import threading
import time

log = logging.getLogger("hearth.collector")

YOUNG = 20_000  # allocations (net) between collections of the youngest generation (CPython: 700)
MIDDLE = 50  # young collections between collections of the middle one (CPython: 10)
OLD = 1_000_000_000  # middle collections between full ones: never by count; by the timer instead


class Collector:
    """The policy, installed in this process for its lifetime (the timer thread is a daemon)."""

    def __init__(self, full_seconds: float) -> None:
        self.full_seconds = full_seconds
        self.collections = 0
        gc.collect()
        gc.freeze()
        gc.set_threshold(YOUNG, MIDDLE, OLD)
        self._thread = threading.Thread(target=self._run, name="gc-full", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(self.full_seconds)
            self.collect()

    def collect(self) -> int:
        """One full collection now (frozen objects excepted); the number of unreachable objects found."""
        started = time.perf_counter()
        found = gc.collect()
        self.collections += 1
        log.debug("full collection: %d unreachable objects, %.1f ms", found, (time.perf_counter() - started) * 1000)
        return found


_installed: Collector | None = None


def install(full_seconds: float) -> Collector | None:
    """Install the policy in this process once (None, and CPython's policy kept, when
    full_seconds is 0 or less)."""
    global _installed
    if full_seconds <= 0:
        return None
    if _installed is None:
        _installed = Collector(full_seconds)
    return _installed
