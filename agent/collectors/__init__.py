"""The COLLECTORS registry: collector name (as in the bootstrap ``collectors`` list) → collector class."""

from __future__ import annotations

import logging

LOG = logging.getLogger("hearth.agent.collectors")


class NotConfigured(Exception):
    """The collector has nothing to collect from here: skip it quietly."""


class Unavailable(Exception):
    """The source is configured but cannot answer now: keep the last good metadata and retry.

    ``kind`` is "network", "server", "rate-limited" or "auth"; ``retry_after`` is the server's
    Retry-After in seconds when it gave one.
    """

    def __init__(self, message: str, kind: str = "network", retry_after: float | None = None):
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after


def collectors() -> dict:
    """Build the registry; a third-party collector is one more entry here, written the same way."""
    from agent.collectors.hearth import HearthCollector

    return {
        "hearth": HearthCollector,
    }


def make_collector(bootstrap, session):
    """The first collector named in the bootstrap that exists here and is configured."""
    registry = collectors()
    for name in bootstrap.collectors:
        if name not in registry:
            LOG.info("collector %r is not part of hearth-agent; skipping it", name)
            continue
        try:
            return registry[name](session, bootstrap)
        except NotConfigured as exc:
            LOG.info("collector %r is not configured (%s); skipping it", name, exc)
    raise NotConfigured(f"no usable collector among {list(bootstrap.collectors)}")
