"""``status.json``: what the agent is doing, written atomically before and after each pass."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable

from agent.fsutil import atomic_write_json, read_json

LOG = logging.getLogger("hearth.agent.status")

# Deployments remembered in status.json, in the order they were last updated: the newest is
# last, and past HISTORY the oldest (first) is dropped.
HISTORY = 200


class StatusFile:
    """{state: idle|running, pass_started, pass_finished, last_error, deployments: {id: {status, finished_at}}}."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time):
        self.path = path
        self._clock = clock
        self.document = {"state": "idle", "pass_started": None, "pass_finished": None,
                         "last_error": None, "deployments": {}}
        try:
            previous = read_json(path)
        except (OSError, ValueError):
            previous = None
        if isinstance(previous, dict) and isinstance(previous.get("deployments"), dict):
            self.document["deployments"] = previous["deployments"]

    def pass_started(self) -> None:
        self.document.update(state="running", pass_started=self._clock(), last_error=None)
        self._write()

    def pass_finished(self, error: str | None = None) -> None:
        self.document.update(state="idle", pass_finished=self._clock(), last_error=error)
        self._write()

    def deployment(self, entry_id: str, status: str, finished: bool = True) -> None:
        """Record one deployment's status (running, complete, failed, interrupted, error)."""
        deployments = self.document["deployments"]
        deployments.pop(entry_id, None)
        deployments[entry_id] = {"status": status,
                                 "finished_at": self._clock() if finished else None}
        while len(deployments) > HISTORY:
            deployments.pop(next(iter(deployments)))
        self._write()

    def _write(self) -> None:
        try:
            atomic_write_json(self.path, self.document, mode=0o644)
        except OSError as exc:  # status is for people; a full disk must not stop deployments
            LOG.warning("cannot write %s: %s", self.path, exc)
