"""Durable signals and metric samples: owns ``outbox/<id>.json`` (and ``.staged``) under the state
directory; touches only those files and the guest API, through the requests.Session it is given.

A metric item (``metrics-<ms>-<random>.json``, kind ``metrics``, written by ``queue_metrics`` from
``hearth-agent metric put`` in another process, or ``host-metrics-...`` by the agent itself, of
which only the newest HOST_METRICS_KEPT wait) carries samples for
``/guest/v1/servers/<server_id>/metrics`` and is delivered, retried and answered like a signal.
The sender looks at the directory every WATCH_SECONDS for items other processes put there.

A signal stays until the guest API has it; retries back off with full jitter, persisted per
item. Progress heartbeats go through the same session and are never stored. Each request goes
to the base the agent's Replicas has in use; a connection error, a timeout or a 5xx there moves
it to the next one, where the item's retry goes (a Retry-After from the base left behind is
not waited for).

A signal is first staged as ``<id>.json.staged``, which the sender never reads, and published
with one rename; the agent writes the run's done marker in between (see agent.deployer).
Bodies go out as UTF-8 JSON without ASCII escapes (encode_body), the encoding that
agent.runner.fit_signal measures against the server's size limit.
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import os
import random
import re
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from agent.fsutil import (
    atomic_write_json,
    ensure_dir,
    fsync_dir,
    move_aside,
    read_json,
    remove_durably,
    safe_name,
)
from agent.replicas import Replicas

LOG = logging.getLogger("hearth.agent.outbox")

_SURROGATE = re.compile("[\ud800-\udfff]")

BACKOFF_BASE = 0.5
BACKOFF_CAP = 60.0
REQUEST_TIMEOUT = (5.0, 30.0)  # connect, read
PROGRESS_TIMEOUT = (3.0, 5.0)  # a heartbeat that cannot get through soon is not worth waiting for
RETRY_AFTER_CAP = 600.0  # a Retry-After of hours would park finished results for no good reason
RETRY_AFTER_JITTER = 0.1  # up to 10 % added, so agents told the same delay do not return as one
RETRY_AFTER_STATUSES = frozenset({429, 503})
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
STAGED = ".staged"
NEVER_ACCEPTED = frozenset({400, 413})  # the same body gets the same answer: retrying cannot help
METRICS = "metrics"  # an item's kind: samples for the server's metrics route (else a deployment signal)
WATCH_SECONDS = 2.0  # how often an idle sender looks for items put by another process
HOST_METRICS = "host-metrics"  # the file prefix of the agent's own periodic measurements
HOST_METRICS_KEPT = 120  # of those, how many wait at most (two hours at the default interval)
CREDENTIAL_REFUSED = frozenset({401, 403})  # retried: the credential may be restored


def error_message(text: str) -> str:
    """``error.message`` of the server's JSON error envelope, else the start of the body."""
    try:
        message = json.loads(text)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = None
    return message if isinstance(message, str) else text[:200].strip()


def json_safe(value: Any) -> tuple[Any, bool]:
    """``value`` with NaN/Infinity replaced by null and lone surrogates by U+FFFD; and whether
    anything changed. Python's json reads both from a hook, but neither is valid JSON in UTF-8
    (requests refuses NaN outright), so an unchanged signal would be retried forever."""
    if isinstance(value, float) and not math.isfinite(value):
        return None, True
    if isinstance(value, str):
        fixed = _SURROGATE.sub("\ufffd", value)
        return fixed, fixed != value
    if isinstance(value, dict):
        pairs = [(json_safe(k), json_safe(v)) for k, v in value.items()]
        return ({k: v for (k, _), (v, _) in pairs}, any(ck or cv for (_, ck), (_, cv) in pairs))
    if isinstance(value, (list, tuple)):
        items = [json_safe(item) for item in value]
        return [item for item, _ in items], any(changed for _, changed in items)
    return value, False


def encode_body(payload: Any) -> bytes:
    """``payload`` as sent: compact UTF-8 JSON, non-ASCII kept as itself (not ``\\uXXXX``).

    Raises ValueError (NaN, Infinity) or UnicodeEncodeError (a lone surrogate): pass the
    payload through json_safe first.
    """
    return json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


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


def retry_after_delay(retry_after: float, jitter: Callable[[], float]) -> float:
    """A server's Retry-After, capped, plus up to 10 % so that agents told alike do not return as one."""
    return min(retry_after, RETRY_AFTER_CAP) * (1 + RETRY_AFTER_JITTER * jitter())


def queue_metrics(
    directory: Path, samples: list[dict[str, Any]], clock: Callable[[], float] = time.time, prefix: str = METRICS
) -> Path:
    """Put samples in the outbox durably (one atomic write) for the agent to deliver; its path,
    `<prefix>-<milliseconds>-<random>.json`, so that names sort by age."""
    ensure_dir(directory)
    item_id = f"{prefix}-{int(clock() * 1000):015d}-{uuid.uuid4().hex[:12]}"
    item = {
        "entry_id": item_id,
        "kind": METRICS,
        "payload": {"metrics": samples},
        "attempts": 0,
        "next_attempt_at": 0.0,
        "created_at": clock(),
        "last_error": None,
        "nonce": uuid.uuid4().hex,
    }
    path = directory / f"{item_id}.json"
    atomic_write_json(path, item)
    return path


def _label(item: dict[str, Any]) -> str:
    """What an item is, for the log."""
    return "metric samples" if item.get("kind") == METRICS else f"signal for deployment {item['entry_id']}"


class Outbox:
    def __init__(
        self,
        directory: Path,
        session: requests.Session,
        base_url: str | Replicas,
        credential: str,
        *,
        server_id: str = "",
        clock: Callable[[], float] = time.time,
        jitter: Callable[[], float] = random.random,
    ):
        self.directory = directory
        self.server_id = server_id  # whose metrics route metric items go to
        self.done_dir = directory / "done"
        self.dead_dir = directory / "dead"
        self._session = session
        self._replicas = base_url if isinstance(base_url, Replicas) else Replicas([base_url])
        self._headers = {
            "Authorization": f"Bearer {credential}",
            "Accept": "application/json",
            "Content-Type": JSON_CONTENT_TYPE,
        }
        self._clock = clock
        self._jitter = jitter
        self._lock = threading.Lock()  # guards item files between publish() and a delivery
        # One delivery pass at a time: a flush() while the sender thread is mid-request would
        # otherwise load the same item and send it a second time.
        self._pass_lock = threading.Lock()
        self._wake = threading.Event()
        self._refused = False  # in a credential outage (401/403), which is logged once
        ensure_dir(directory)

    def retarget(self, base_url: str | Replicas, credential: str) -> None:
        """Send from now on to ``base_url`` (or the agent's Replicas) with ``credential`` (a
        SIGHUP reload or a rotation changed them); a request already under way finishes with
        the old ones."""
        headers = dict(self._headers, Authorization=f"Bearer {credential}")
        replicas = base_url if isinstance(base_url, Replicas) else Replicas([base_url])
        with self._lock:
            self._replicas, self._headers = replicas, headers
        self._refused = False
        self.wake()

    # -- writing ---------------------------------------------------------------------------
    def stage(
        self,
        entry_id: str,
        payload: dict[str, Any],
        done_key: str | None = None,
        done_record: dict[str, Any] | None = None,
    ) -> Path:
        """Store the signal durably as ``<id>.json.staged``, where the sender does not look.

        ``done_record`` is the run's done marker, kept so that a start-up after a crash can
        write the marker from the staged item alone.
        """
        item = {
            "entry_id": entry_id,
            "payload": payload,
            "done_key": done_key,
            "done_record": done_record,
            "attempts": 0,
            "next_attempt_at": 0.0,
            "created_at": self._clock(),
            "last_error": None,
            "nonce": uuid.uuid4().hex,
        }
        path = self._staged_path(entry_id)
        atomic_write_json(path, item)
        return path

    def publish(self, staged: Path) -> None:
        """Hand a staged signal to the sender with one atomic rename (replacing an older one)."""
        with self._lock:
            os.replace(staged, staged.with_name(staged.name[: -len(STAGED)]))
            fsync_dir(self.directory)
        self._wake.set()

    def staged_items(self) -> list[tuple[Path, dict[str, Any]]]:
        """Staged, unpublished signals: each is a finished run whose hand-over was cut short."""
        items = [self._read_staged(path) for path in sorted(self.directory.glob("*" + STAGED))]
        return [item for item in items if item is not None]

    def staged_item(self, entry_id: str) -> tuple[Path, dict[str, Any]] | None:
        return self._read_staged(self._staged_path(entry_id))

    def wake(self) -> None:
        self._wake.set()

    def put_metrics(self, samples: list[dict[str, Any]]) -> Path:
        """Queue samples for the server's metrics route (queue_metrics) and wake the sender."""
        with self._lock:
            path = queue_metrics(self.directory, samples, self._clock)
        self._wake.set()
        return path

    def put_host_metrics(self, samples: list[dict[str, Any]], keep: int = HOST_METRICS_KEPT) -> Path:
        """As put_metrics, for the agent's own periodic measurements: of those, only the newest
        `keep` items wait in the outbox (older ones would be past the server's retention by the
        time an outage ends, and would only slow the catch-up); samples put by hand are never
        dropped."""
        with self._lock:
            path = queue_metrics(self.directory, samples, self._clock, prefix=HOST_METRICS)
            waiting = sorted(self.directory.glob(f"{HOST_METRICS}-*.json"))
            for old in waiting[: max(0, len(waiting) - keep)]:
                remove_durably(old)
        self._wake.set()
        return path

    def pending(self) -> list[dict[str, Any]]:
        return [item for _, item in self._load()]

    # -- delivering ------------------------------------------------------------------------
    def flush(self, deadline: float | None = None, stop: threading.Event | None = None, force: bool = False) -> int:
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
        thread = threading.Thread(target=self._send_forever, args=(stop,), name="hearth-outbox", daemon=True)
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
            self._idle(min(delay, 60.0), stop)

    def _idle(self, seconds: float, stop: threading.Event) -> None:
        """Wait `seconds` or until woken, looking every WATCH_SECONDS for a change to the
        directory (an item renamed in by `hearth-agent metric put`), which ends the wait."""
        deadline = time.monotonic() + seconds
        before = self._directory_stamp()
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0 or self._wake.wait(min(left, WATCH_SECONDS)):
                return
            if self._directory_stamp() != before:
                return

    def _directory_stamp(self) -> int | None:
        try:
            return os.stat(self.directory).st_mtime_ns
        except OSError:
            return None

    def _deliver_due(self, force: bool, stop: threading.Event | None) -> tuple[int, float | None]:
        with self._pass_lock:
            return self._deliver_due_locked(force, stop)

    def _deliver_due_locked(self, force: bool, stop: threading.Event | None) -> tuple[int, float | None]:
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

    def _deliver(self, path: Path, item: dict[str, Any]) -> bool:
        """One attempt; True when the item left the outbox (delivered, superseded or dead)."""
        entry_id, label = item["entry_id"], _label(item)
        with self._lock:
            replicas, headers = self._replicas, self._headers
        base_url = replicas.current
        if item.get("kind") == METRICS:
            if not self.server_id:
                return self._reschedule(path, item, "no server_id in the bootstrap document to report for", None)
            url = f"{base_url}/guest/v1/servers/{quote(self.server_id, safe='')}/metrics"
        else:
            url = f"{base_url}/guest/v1/deployments/{quote(entry_id, safe='')}/signal"
        try:
            response = self._session.post(url, data=self._body(item), headers=headers, timeout=REQUEST_TIMEOUT)
        except requests.RequestException as exc:
            replicas.failed(base_url, type(exc).__name__)
            return self._reschedule(path, item, f"{type(exc).__name__}: {exc}", None)
        with response:
            status, text = response.status_code, response.text
            retry_after = retry_after_seconds(response.headers.get("Retry-After"), self._clock())
        body, message = text[:1000], error_message(text)
        if status >= 500 and replicas.failed(base_url, f"HTTP {status}", expected=status == 503):
            retry_after = None  # the base that asked for it is left behind: retry at the next one
        elif status < 500:
            replicas.answered(base_url)
        if status in CREDENTIAL_REFUSED:
            if not self._refused:
                LOG.error(
                    "guest API refused this server's credential for signals (HTTP %d: %s); "
                    "they stay in the outbox and are retried with backoff",
                    status,
                    message,
                )
            self._refused = True
            return self._reschedule(path, item, f"HTTP {status}: {message}", None, quiet=True)
        if self._refused and status < 500 and status != 429:  # an answer past the credential
            LOG.info("guest API accepted this server's credential again (HTTP %d)", status)
            self._refused = False
        if 200 <= status < 300:
            LOG.log(logging.DEBUG if item.get("kind") == METRICS else logging.INFO, "%s delivered (%d)", label, status)
            return self._settle(path, item, None, status, body, message)
        if status == 409 and item.get("kind") != METRICS:
            LOG.warning("%s refused as finished or superseded (409): %s", label, message)
            return self._settle(path, item, self.done_dir, status, body, message)
        if status == 404:
            LOG.error("%s: its deployment or server is gone (404); moved to outbox/dead: %s", label, message)
            return self._settle(path, item, self.dead_dir, status, body, message)
        if status in NEVER_ACCEPTED:
            LOG.error(
                "%s refused with HTTP %d (%s); the server will never "
                "accept it, so it is moved to outbox/dead and not retried",
                label,
                status,
                message,
            )
            return self._settle(path, item, self.dead_dir, status, body, message)
        return self._reschedule(
            path, item, f"HTTP {status}: {message}", retry_after if status in RETRY_AFTER_STATUSES else None
        )

    def _body(self, item: dict[str, Any]) -> bytes:
        """The item's payload encoded; one written before build_signal cleaned its answers
        (NaN from a hook, a lone surrogate) is cleaned here rather than retried for ever."""
        try:
            return encode_body(item["payload"])
        except (ValueError, UnicodeEncodeError):
            cleaned, _ = json_safe(item["payload"])
            LOG.warning(
                "signal for deployment %s holds NaN/Infinity or invalid text; sending "
                "it with null / U+FFFD in their place",
                item["entry_id"],
            )
            return encode_body(cleaned)

    def progress(self, entry_id: str, message: str, percent: float | None = None) -> int:
        """POST a heartbeat for a running deployment; the HTTP status (202 when accepted).

        Not durable and never retried: the next heartbeat supersedes it. Raises
        requests.RequestException when the server cannot be reached.
        """
        with self._lock:
            replicas, headers = self._replicas, self._headers
        base_url = replicas.current
        url = f"{base_url}/guest/v1/deployments/{quote(entry_id, safe='')}/progress"
        body = encode_body({"message": message, "percent": percent})
        try:
            response = self._session.post(url, data=body, headers=headers, timeout=PROGRESS_TIMEOUT)
        except requests.RequestException as exc:
            replicas.failed(base_url, type(exc).__name__)
            raise
        with response:
            if response.status_code >= 500:
                replicas.failed(base_url, f"HTTP {response.status_code}", expected=response.status_code == 503)
            else:
                replicas.answered(base_url)
            return response.status_code

    def _settle(
        self, path: Path, item: dict[str, Any], record_dir: Path | None, status: int, body: str, message: str
    ) -> bool:
        with self._lock:
            if not self._unchanged(path, item):
                return False  # a newer signal for the same id arrived meanwhile: send that one
            if record_dir is not None:
                ensure_dir(record_dir)
                atomic_write_json(
                    record_dir / path.name,
                    {
                        "entry_id": item["entry_id"],
                        "payload": item["payload"],
                        "status": status,
                        "response": body,
                        "message": message,
                        "recorded_at": self._clock(),
                    },
                )
            remove_durably(path)
        return True

    def _reschedule(
        self, path: Path, item: dict[str, Any], error: str, retry_after: float | None, quiet: bool = False
    ) -> bool:
        attempts = int(item.get("attempts", 0)) + 1
        if retry_after is None:  # exponential backoff, full jitter
            delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempts - 1)) * self._jitter()
        else:  # the server's word, plus a little jitter
            delay = retry_after_delay(retry_after, self._jitter)
        item.update(attempts=attempts, next_attempt_at=self._clock() + delay, last_error=error)
        level = logging.DEBUG if quiet else logging.WARNING if attempts == 1 else logging.INFO
        LOG.log(
            level,
            "%s not delivered (%s); attempt %d, next in %.1f s",
            _label(item),
            error,
            attempts,
            delay,
        )
        with self._lock:
            if self._unchanged(path, item):
                atomic_write_json(path, item)
        return False

    # -- files -----------------------------------------------------------------------------
    def _path(self, entry_id: str) -> Path:
        return self.directory / f"{safe_name(entry_id)}.json"

    def _staged_path(self, entry_id: str) -> Path:
        return self.directory / f"{safe_name(entry_id)}.json{STAGED}"

    def _read_staged(self, path: Path) -> tuple[Path, dict[str, Any]] | None:
        # Written atomically, so an unreadable one is damage, not a crash mid-write: it is set
        # aside, and its deployment runs again as if it had never been staged.
        item = self._read_item(path)
        return None if item is None else (path, item)

    def _read_item(self, path: Path) -> dict[str, Any] | None:
        """The item in ``path``; None when it is gone or unreadable (then moved aside)."""
        try:
            item = read_json(path)
            if not isinstance(item, dict) or not isinstance(item.get("entry_id"), str):
                raise ValueError("not an outbox item")
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            LOG.error("outbox item %s is unreadable (%s); moved aside", path.name, exc)
            move_aside(path, "corrupt")
            return None
        return item

    def _unchanged(self, path: Path, item: dict[str, Any]) -> bool:
        try:
            nonce: object = read_json(path).get("nonce")
        except (OSError, ValueError, AttributeError):
            return False
        return nonce == item.get("nonce")

    def _load(self) -> list[tuple[Path, dict[str, Any]]]:
        items = []
        for path in self.directory.glob("*.json"):
            if path.name.startswith("."):
                continue
            item = self._read_item(path)
            if item is not None:
                items.append((path, item))
        items.sort(key=lambda pair: (pair[1].get("created_at", 0.0), pair[0].name))
        return items
