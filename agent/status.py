"""``status.json`` in the state directory, owned here: what the agent is doing, written atomically
before and after each pass and around each run; touches no other file and no network."""

from __future__ import annotations

import importlib.metadata
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.fsutil import atomic_write_json, read_json

LOG = logging.getLogger("hearth.agent.status")

# Deployments remembered in status.json, in the order they were last updated: the newest is
# last, and past HISTORY the oldest (first) is dropped.
HISTORY = 200


def agent_version() -> str:
    """The installed hearth distribution's version ("unknown" when run from a bare checkout)."""
    try:
        return importlib.metadata.version("hearth")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class StatusFile:
    """{agent_version, state: idle|running, passes, pass_started, pass_finished, last_error,
    current: {id, name, action, started_at} | null, deployments: {id: {status, finished_at}}}.

    For people and monitoring only: nothing reads it back but the deployment history, and it
    holds no inputs (the file is world-readable).
    """

    def __init__(self, path: Path, clock: Callable[[], float] = time.time):
        self.path = path
        self._clock = clock
        self.document: dict[str, Any] = {
            "agent_version": agent_version(),
            "state": "idle",
            "passes": 0,
            "pass_started": None,
            "pass_finished": None,
            "last_error": None,
            "current": None,
            "deployments": {},
        }
        try:
            previous = read_json(path)
        except (OSError, ValueError):
            previous = None
        if isinstance(previous, dict) and isinstance(previous.get("deployments"), dict):
            self.document["deployments"] = previous["deployments"]

    def pass_started(self) -> None:
        self.document.update(
            state="running",
            passes=self.document["passes"] + 1,
            pass_started=self._clock(),
            last_error=None,
            current=None,
        )
        self._write()

    def pass_finished(self, error: str | None = None) -> None:
        self.document.update(state="idle", pass_finished=self._clock(), last_error=error, current=None)
        self._write()

    def running(self, entry_id: str, name: object, action: object) -> None:
        """The deployment whose hook runs now (``current``), listed as running."""
        self.document["current"] = {"id": entry_id, "name": name, "action": action, "started_at": self._clock()}
        self.deployment(entry_id, "running", finished=False)

    def deployment(self, entry_id: str, status: str, finished: bool = True) -> None:
        """Record one deployment's status (running, complete, failed, interrupted, error)."""
        deployments = self.document["deployments"]
        deployments.pop(entry_id, None)
        deployments[entry_id] = {"status": status, "finished_at": self._clock() if finished else None}
        while len(deployments) > HISTORY:
            deployments.pop(next(iter(deployments)))
        current = self.document["current"]
        if finished and isinstance(current, dict) and current.get("id") == entry_id:
            self.document["current"] = None
        self._write()

    def _write(self) -> None:
        try:
            atomic_write_json(self.path, self.document, mode=0o644)
        except OSError as exc:  # status is for people; a full disk must not stop deployments
            LOG.warning("cannot write %s: %s", self.path, exc)
