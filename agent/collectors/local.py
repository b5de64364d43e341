"""The ``local`` collector: reads (never writes) ``*.json`` files in one or more directories and
watches them with a watchdog observer thread; no network, its session is unused.

The files are merged in name order and re-read on watchdog events.

Facts kept from os-collect-config's local collector: the default directory is
``/var/lib/os-collect-config/local-data``, hidden files are ignored, files are taken in
C-locale (byte) order of their names across all directories, and a directory owned by another
user or writable by everyone, or a file writable by everyone, is not trusted. Differences, on
purpose: only ``*.json`` files are read; a file that is not a JSON object is skipped with one
log line while the others are still used (os-collect-config drops the whole collector); and
the files are merged here (merge.merge_documents) instead of being handed on one by one.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
import time
from pathlib import Path
from typing import Any

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

from agent.collectors import Fetch, NotConfigured, Unavailable
from agent.collectors.merge import digest, merge_documents
from agent.config import Bootstrap

LOG = logging.getLogger("hearth.agent.collectors")

DEFAULT_PATH = "/var/lib/os-collect-config/local-data"
# A problem to log once: (path, mtime_ns, size, level, message).
Problem = tuple[str, int, int, int, str]
SETTLE = 0.1  # after an event, wait for this much quiet (a writer may not be done yet) ...
SETTLE_MAX = 0.5  # ... but never longer than this in all
# Only events that can change what we read: our own reads (opened, closed without writing)
# must not wake us, or every read would cause another one.
EVENTS = [
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileClosedEvent,
    FileAttribEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
]


class _Changed(FileSystemEventHandler):
    def __init__(self, changed: threading.Event):
        self._changed = changed

    def on_any_event(self, event: FileSystemEvent) -> None:
        self._changed.set()


class LocalCollector:
    name = "local"

    def __init__(self, session: Any, bootstrap: Bootstrap):
        section = (getattr(bootstrap, "sections", None) or {}).get("local") or {}
        paths = section.get("path", [DEFAULT_PATH])
        paths = [paths] if isinstance(paths, str) else list(paths or [])
        if not paths:
            raise NotConfigured("local.path names no directory")
        self.directories = [Path(p).absolute() for p in paths]
        self._changed = threading.Event()
        self._closed = False
        self._lock = threading.Lock()
        self._observer: Any = None
        self._watches: dict[Path, Any] = {}
        self._problems: set[Problem] = set()  # what was logged, so each problem is logged once

    # -- the collector interface ---------------------------------------------------------
    def fetch(self, since: Any = None, wait: float = 0.0) -> Fetch:
        """Read every directory now; the version is a digest of the merged document."""
        self._sync_watches()
        documents, problems = self._read_all()
        for *_, level, message in sorted(problems - self._problems):
            LOG.log(level, "local collector: %s", message)
        self._problems = problems
        merged = merge_documents(documents)
        version = digest(merged)
        if since is not None and version == since:
            return Fetch(changed=False, version=since)
        return Fetch(changed=True, version=version, metadata=merged)

    def wait_for_change(self, stop: threading.Event, wait: float) -> None:
        """Block on the watchdog event, then let a burst of events settle."""
        self._changed.wait()
        began = time.monotonic()
        while not stop.is_set() and not self._closed:
            self._changed.clear()
            if not self._changed.wait(SETTLE) or time.monotonic() - began > SETTLE_MAX:
                return

    def close(self) -> None:
        with self._lock:
            self._closed = True
            observer, self._observer = self._observer, None
            self._watches.clear()
        self._changed.set()
        if observer is not None:
            observer.stop()  # its threads are daemons; no need to wait for them

    # -- watching --------------------------------------------------------------------------
    def _sync_watches(self) -> None:
        """Watch each directory, or its nearest existing parent until it exists."""
        with self._lock:
            if self._closed:
                return
            if self._observer is None:
                self._observer = Observer()
                self._observer.start()
            wanted = {path for path in map(_nearest_existing, self.directories) if path is not None}
            for path in set(self._watches) - wanted:
                try:
                    self._observer.unschedule(self._watches.pop(path))
                except (KeyError, OSError):
                    pass
            for path in wanted - set(self._watches):
                try:
                    self._watches[path] = self._observer.schedule(
                        _Changed(self._changed), str(path), recursive=False, event_filter=EVENTS
                    )
                except OSError as exc:
                    raise Unavailable(f"cannot watch {path}: {exc}") from None

    # -- reading ---------------------------------------------------------------------------
    def _read_all(self) -> tuple[list[dict[str, Any]], set[Problem]]:
        found: list[tuple[bytes, int, dict[str, Any]]] = []
        problems: set[Problem] = set()
        for index, directory in enumerate(self.directories):
            problem = _untrusted_directory(directory)
            if problem:
                problems.add((str(directory), 0, 0, logging.ERROR, problem))
                continue
            try:
                names = os.listdir(directory)
            except FileNotFoundError:
                problems.add(
                    (str(directory), 0, 0, logging.WARNING, f"{directory} does not exist (yet); watching for it")
                )
                continue
            except OSError as exc:
                raise Unavailable(f"cannot list {directory}: {exc}") from None
            for name in names:
                if name.startswith(".") or not name.endswith(".json"):
                    continue
                document, unreadable = _read_file(directory / name)
                if unreadable:
                    problems.add(unreadable)
                elif document is not None:
                    found.append((os.fsencode(name), index, document))
        found.sort(key=lambda item: (item[0], item[1]))
        return [document for _, _, document in found], problems


def _nearest_existing(path: Path) -> Path | None:
    for candidate in (path, *path.parents):
        if candidate.is_dir():
            return candidate
    return None


def _untrusted_directory(directory: Path) -> str | None:
    try:
        info = directory.stat()
    except OSError:
        return None  # reported when listing it
    if info.st_uid != os.geteuid():
        return f"{directory} is owned by another user (uid {info.st_uid}); ignoring it"
    if info.st_mode & stat.S_IWOTH:
        return f"{directory} is writable by everyone; ignoring it"
    return None


def _read_file(path: Path) -> tuple[dict[str, Any] | None, Problem | None]:
    """The file's JSON object, or a problem ``(path, mtime, size, level, message)`` to log once."""
    try:
        # O_NONBLOCK: a FIFO named *.json must not hang the collector.
        with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC), "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                return None, None
            key = (str(path), info.st_mtime_ns, info.st_size)
            if info.st_mode & stat.S_IWOTH:
                return None, (*key, logging.ERROR, f"{path} is writable by everyone; skipping it")
            raw = handle.read()
    except FileNotFoundError:
        return None, None  # removed since the listing
    except OSError as exc:
        return None, (str(path), 0, 0, logging.ERROR, f"cannot read {path}: {exc}; skipping it")
    try:
        document = json.loads(raw.decode("utf-8"))
    except ValueError as exc:
        return None, (*key, logging.ERROR, f"{path} is not valid JSON ({exc}); skipping it")
    if not isinstance(document, dict):
        return None, (*key, logging.ERROR, f"{path} is not a JSON object; skipping it")
    return document, None
