"""Durable signals: ``outbox/<id>.json`` stays until the guest API has it; retries back off with full jitter, persisted per item."""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
import uuid
from pathlib import Path
from typing import Callable
from urllib.parse import quote

import requests

from agent.fsutil import atomic_write_json, ensure_dir, move_aside, read_json, remove_durably, safe_name

LOG = logging.getLogger("hearth.agent.outbox")

BACKOFF_BASE = 0.5
BACKOFF_CAP = 60.0
REQUEST_TIMEOUT = (5.0, 30.0)  # connect, read


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """A Retry-After header (seconds or an HTTP date) as a delay in seconds, or None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None


class Outbox:
    def __init__(self, directory: Path, session: requests.Session, base_url: str, credential: str,
                 *, clock: Callable[[], float] = time.time,
                 jitter: Callable[[], float] = random.random):
        self.directory = directory
        self.done_dir = directory / "done"
        self.dead_dir = directory / "dead"
        self._session = session
        self._base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {credential}", "Accept": "application/json"}
        self._clock = clock
        self._jitter = jitter
        self._lock = threading.Lock()  # guards item files between put() and a delivery
        self._wake = threading.Event()
        ensure_dir(directory)

    # -- writing ---------------------------------------------------------------------------
    def put(self, entry_id: str, payload: dict, done_key: str | None = None) -> None:
        """Store the signal durably (fsync'd) before returning; the sender is woken at once."""
        item = {"entry_id": entry_id, "payload": payload, "done_key": done_key, "attempts": 0,
                "next_attempt_at": 0.0, "created_at": self._clock(), "last_error": None,
                "nonce": uuid.uuid4().hex}
        with self._lock:
            atomic_write_json(self._path(entry_id), item)
        self._wake.set()

    def holds(self, entry_id: str, done_key: str) -> bool:
        """Whether a signal for this run is still waiting here (the agent stopped before its done marker)."""
        try:
            item = read_json(self._path(entry_id))
        except (OSError, ValueError):
            return False
        return isinstance(item, dict) and item.get("done_key") == done_key

    def wake(self) -> None:
        self._wake.set()

    def pending(self) -> list[dict]:
        return [item for _, item in self._load()]

    # -- delivering ------------------------------------------------------------------------
    def flush(self, deadline: float | None = None, stop: threading.Event | None = None,
              force: bool = False) -> int:
        """Deliver what is due (everything when ``force``); return how many items remain.

        Without ``deadline`` this is one pass. With a ``time.monotonic()`` deadline it keeps
        retrying, honouring each item's backoff, until the outbox is empty or time is up.
        """
        while True:
            self._wake.clear()
            remaining, next_due = self._deliver_due(force, stop)
            force = False
            if not remaining or deadline is None or (stop is not None and stop.is_set()):
                return remaining
            left = deadline - time.monotonic()
            if left <= 0:
                return remaining
            self._wake.wait(min(left, max(0.0, (next_due or 0.0) - self._clock())))

    def start_sender(self, stop: threading.Event) -> threading.Thread:
        """A daemon thread that delivers items as soon as they are put; old items first, at once."""
        thread = threading.Thread(target=self._send_forever, args=(stop,), name="hearth-outbox",
                                  daemon=True)
        thread.start()
        return thread

    def _send_forever(self, stop: threading.Event) -> None:
        force = True
        while not stop.is_set():
            self._wake.clear()
            try:
                _, next_due = self._deliver_due(force, stop)
            except Exception:  # a bad item or a full disk must not kill delivery for good
                LOG.exception("outbox pass failed; retrying in 5 s")
                next_due = self._clock() + 5.0
            force = False
            delay = 60.0 if next_due is None else max(0.0, next_due - self._clock())
            self._wake.wait(min(delay, 60.0))

    def _deliver_due(self, force: bool, stop: threading.Event | None) -> tuple[int, float | None]:
        remaining, next_due = 0, None
        for path, item in self._load():
            stopping = stop is not None and stop.is_set()
            if not stopping and (force or item.get("next_attempt_at", 0.0) <= self._clock()):
                if self._deliver(path, item):
                    continue
            remaining += 1
            due = item.get("next_attempt_at", 0.0)
            next_due = due if next_due is None else min(next_due, due)
        return remaining, next_due

    def _deliver(self, path: Path, item: dict) -> bool:
        """One attempt; True when the item left the outbox (delivered, superseded or dead)."""
        entry_id = item["entry_id"]
        url = f"{self._base_url}/guest/v1/deployments/{quote(entry_id, safe='')}/signal"
        try:
            response = self._session.post(url, json=item["payload"], headers=self._headers,
                                          timeout=REQUEST_TIMEOUT)
        except requests.RequestException as exc:
            return self._reschedule(path, item, f"{type(exc).__name__}: {exc}", None)
        with response:
            status, body = response.status_code, response.text[:1000]
            retry_after = retry_after_seconds(response.headers.get("Retry-After"), self._clock())
        if 200 <= status < 300:
            LOG.info("signal for deployment %s delivered (%d)", entry_id, status)
            return self._settle(path, item, None, status, body)
        if status == 409:
            LOG.warning("signal for deployment %s refused as finished or superseded (409): %s",
                        entry_id, body)
            return self._settle(path, item, self.done_dir, status, body)
        if status == 404:
            LOG.error("signal for deployment %s: deployment is gone (404); moved to outbox/dead: %s",
                      entry_id, body)
            return self._settle(path, item, self.dead_dir, status, body)
        return self._reschedule(path, item, f"HTTP {status}: {body}",
                                retry_after if status == 429 else None)

    def _settle(self, path: Path, item: dict, record_dir: Path | None, status: int,
                body: str) -> bool:
        with self._lock:
            if not self._unchanged(path, item):
                return False  # a newer signal for the same id arrived meanwhile: send that one
            if record_dir is not None:
                ensure_dir(record_dir)
                atomic_write_json(record_dir / path.name, {
                    "entry_id": item["entry_id"], "payload": item["payload"], "status": status,
                    "response": body, "recorded_at": self._clock()})
            remove_durably(path)
        return True

    def _reschedule(self, path: Path, item: dict, error: str, retry_after: float | None) -> bool:
        attempts = int(item.get("attempts", 0)) + 1
        if retry_after is None:
            delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempts - 1)) * self._jitter()
        else:
            delay = retry_after
        item.update(attempts=attempts, next_attempt_at=self._clock() + delay, last_error=error)
        (LOG.warning if attempts == 1 else LOG.info)(
            "signal for deployment %s not delivered (%s); attempt %d, next in %.1f s",
            item["entry_id"], error, attempts, delay)
        with self._lock:
            if self._unchanged(path, item):
                atomic_write_json(path, item)
        return False

    # -- files -----------------------------------------------------------------------------
    def _path(self, entry_id: str) -> Path:
        return self.directory / f"{safe_name(entry_id)}.json"

    def _unchanged(self, path: Path, item: dict) -> bool:
        try:
            return read_json(path).get("nonce") == item.get("nonce")
        except (OSError, ValueError, AttributeError):
            return False

    def _load(self) -> list[tuple[Path, dict]]:
        items = []
        for path in self.directory.glob("*.json"):
            if path.name.startswith("."):
                continue
            try:
                item = read_json(path)
                if not isinstance(item, dict) or not isinstance(item.get("entry_id"), str):
                    raise ValueError("not an outbox item")
            except FileNotFoundError:
                continue
            except (OSError, ValueError) as exc:
                LOG.error("outbox item %s is unreadable (%s); moved aside", path.name, exc)
                move_aside(path, "corrupt")
                continue
            items.append((path, item))
        items.sort(key=lambda pair: (pair[1].get("created_at", 0.0), pair[0].name))
        return items
