"""Change notification, in this process's memory only: owns each topic's version and its waiters;
touches no database, file or network despite living in engine.store.

Waiters block on a topic until its version moves past what they have seen.

One server process per database: a change committed by another process is not heard here
(no cross-process bridge exists yet; that is the scale-out work of issue 14). Callers depend
only on `publish` and `wait`, so such a bridge can call `publish` without changing them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


class Notifier:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conditions: dict[str, tuple[threading.Condition, list[int]]] = {}
        self._latest: dict[str, Any] = {}

    def _entry(self, topic: str) -> tuple[threading.Condition, list[int]]:
        with self._lock:
            entry = self._conditions.get(topic)
            if entry is None:
                entry = (threading.Condition(), [0])
                self._conditions[topic] = entry
            return entry

    def publish(self, topic: str, payload: Any = None) -> None:
        """Wake the topic's waiters. `payload` is what changed (so a woken waiter need not read
        the store); publishing without one forgets an earlier payload."""
        with self._lock:
            if payload is None:
                self._latest.pop(topic, None)
            else:
                self._latest[topic] = payload
        condition, counter = self._entry(topic)
        with condition:
            counter[0] += 1
            condition.notify_all()

    def latest(self, topic: str) -> Any:
        """The payload of the topic's newest publish, if it carried one."""
        with self._lock:
            return self._latest.get(topic)

    def wait(self, topic: str, changed: Callable[[], bool], timeout: float) -> bool:
        """Block until `changed()` is true (re-checked after each publish) or `timeout` passes."""
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
                        return changed()
                    condition.wait(remaining)
                seen = counter[0]
