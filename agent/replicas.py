"""The guest API's base URLs and the one in use: owns that choice, shared by the ``hearth``
collector, the outbox (signals, heartbeats) and the credential rotation; no I/O, no clock.

The bootstrap's ``base_urls`` (else its ``base_url`` alone) are tried round robin. A base that
answered keeps being used (sticky) until a request to it fails: a connection error, a timeout
or a 5xx answer. The first user that reports the failure moves everyone to the next base; a
report about a base no longer in use changes nothing, so several threads that saw one replica
go do not skip the next one. The waiting between attempts belongs to each user (its own
backoff, with full jitter); each switch is logged once, and once every base has failed in a
row, further switches are logged at DEBUG until one answers again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

LOG = logging.getLogger("hearth.agent.replicas")


class Replicas:
    def __init__(self, bases: Sequence[str]):
        self._lock = threading.Lock()
        self._bases: tuple[str, ...] = ()
        self._index = 0
        self._failures = 0  # requests failed in a row, over all bases, since one answered
        self.use(bases)

    @property
    def bases(self) -> tuple[str, ...]:
        return self._bases

    @property
    def current(self) -> str:
        with self._lock:
            return self._bases[self._index]

    def use(self, bases: Sequence[str]) -> None:
        """From now on choose among ``bases`` (a reloaded bootstrap); the one in use stays
        in use if it is still listed."""
        cleaned = tuple(dict.fromkeys(b.rstrip("/") for b in bases if b))
        if not cleaned:
            raise ValueError("at least one base URL is needed")
        with self._lock:
            current = self._bases[self._index] if self._bases else None
            self._bases = cleaned
            self._index = cleaned.index(current) if current in cleaned else 0
            self._failures = 0

    def path_of(self, url: str) -> str | None:
        """What follows the base in ``url`` (path and query), when ``url`` is under one of the
        bases; None for a URL elsewhere (it is used as it is, with no failover)."""
        for base in self._bases:
            if url == base or url.startswith((base + "/", base + "?")):
                return url[len(base) :]
        return None

    def answered(self, base: str) -> None:
        """A request to ``base`` got an answer (any below 500): keep using it."""
        with self._lock:
            if base != self._bases[self._index] or not self._failures:
                return
            failures, self._failures = self._failures, 0
        if len(self._bases) > 1 or failures > 1:
            LOG.info("guest API at %s answered after %d failed request(s)", base, failures)

    def failed(self, base: str, reason: str, *, expected: bool = False) -> bool:
        """A request to ``base`` failed; move to the next base. True when this call moved.

        ``expected``: the base went away as a replica does when it stops (it closed a parked
        poll, refused the next connection, or answered 503): logged at INFO, not WARNING.
        """
        with self._lock:
            if base != self._bases[self._index]:
                return False  # another user already moved past it
            self._failures += 1
            if len(self._bases) == 1:
                return False
            self._index = (self._index + 1) % len(self._bases)
            chosen, failures = self._bases[self._index], self._failures
        if failures > len(self._bases):
            level = logging.DEBUG  # every base failed in a row: the users' own logs say so
        else:
            level = logging.INFO if expected else logging.WARNING
        LOG.log(level, "guest API at %s did not answer (%s); switching to %s", base, reason, chosen)
        return True
