"""Calls Hearth makes to URLs its users give (alarm actions, event sinks): how logs show such a
URL, and the bounded pool the calls run on; touches no store, and the network only through the
callables it runs.

A URL may carry a secret in its query (a pre-signed alarm_url, a webhook's token): logs name
the scheme, host and path only (`shown`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)


def shown(url: str) -> str:
    """The URL as logs show it: scheme, host and path (no query, no user info)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


class Pool:
    """At most `workers` calls at once and `most` waiting, so a slow URL never holds up the
    caller; a call given a `key` is refused while another with that key is queued or running
    (one sink's events go one at a time). `stop` drops what has not started."""

    def __init__(self, workers: int, most: int, name: str, after: Callable[[], None] | None = None):
        self.most = most
        self.after = after  # called once each call is over and its key free again
        self._executor = ThreadPoolExecutor(max(int(workers), 1), thread_name_prefix=name)
        self._lock = threading.Lock()
        self._pending = 0
        self._keys: set[Hashable] = set()
        self._stopped = False

    @property
    def pending(self) -> int:
        with self._lock:
            return self._pending

    def busy(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._keys

    def submit(self, call: Callable[..., Any], *args: Any, key: Hashable | None = None) -> bool:
        """Queue `call(*args)`; False when stopped, full, or `key` is queued or running."""
        with self._lock:
            if self._stopped or self._pending >= self.most or (key is not None and key in self._keys):
                return False
            self._pending += 1
            if key is not None:
                self._keys.add(key)
        self._executor.submit(self._run, call, args, key)
        return True

    def _run(self, call: Callable[..., Any], args: tuple, key: Hashable | None) -> None:
        try:
            call(*args)
        except Exception:  # the caller's own errors are its to report; this keeps the pool alive
            log.exception("a background call failed")
        finally:
            with self._lock:
                self._pending -= 1
                self._keys.discard(key)
            if self.after is not None:
                self.after()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
        self._executor.shutdown(wait=True, cancel_futures=True)
        with self._lock:  # calls cancelled before they started never ran _run
            self._pending = 0
            self._keys.clear()
