"""Credential rotation: owns the credential in the bootstrap document (rewritten atomically, 0600)
and calls ``POST /guest/v1/credentials/rotate`` through the session it is given (the collectors').

It learns when this server's credential expires, rotates it before then and hands the new one
to the agent.

The server announces the expiry on every metadata answer, in the headers
``Hearth-Credential-Expires-In`` and ``Hearth-Credential-Lifetime`` (seconds, so a guest whose
clock is off still gets it right); ``observe`` is registered as a response hook of the session
the collectors use, so no request is made just to learn it. The rotate answer gives the new
credential's ``expires_in``. When less than ``remaining_fraction`` of the lifetime is left,
``POST /guest/v1/credentials/rotate`` is called with the current credential. A failed
rotation is retried with backoff and the current credential is kept: it keeps working until
it expires, and the server keeps the old one alive for an overlap after a rotation. The call
goes to the base the agent's Replicas has in use; a failure there moves it to the next one.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeGuard

import requests

from agent.fsutil import atomic_write_json, read_json
from agent.outbox import error_message, retry_after_seconds
from agent.replicas import Replicas

LOG = logging.getLogger("hearth.agent.rotation")

ROTATE_PATH = "/guest/v1/credentials/rotate"
TIMEOUT = (10.0, 30.0)
BACKOFF_BASE, BACKOFF_CAP = 1.0, 60.0
MIN_STEP = 1.0
EXPIRES_IN_HEADER, LIFETIME_HEADER = "Hearth-Credential-Expires-In", "Hearth-Credential-Lifetime"


class RotationFailed(Exception):
    """This attempt did not give a new credential; ``retry_after`` is the server's hint."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class Rotation:
    """Keeps one credential alive. ``on_rotated(credential)`` is called after the new one is
    in the bootstrap document; the agent switches its sources and outbox to it."""

    def __init__(
        self,
        session: requests.Session,
        bootstrap_path: Path,
        *,
        base_url: str | Replicas,
        credential: str,
        on_rotated: Callable[[str], None],
        remaining_fraction: float,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ):
        self._session = session
        self._path = bootstrap_path
        self._replicas = base_url if isinstance(base_url, Replicas) else Replicas([base_url])
        self._credential = credential
        self._on_rotated = on_rotated
        self._fraction = remaining_fraction
        self._clock = clock
        self._jitter = jitter
        self._due: float | None = None  # monotonic time to rotate at; None: not known yet
        self._failures = 0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()

    # -- life cycle ------------------------------------------------------------------------
    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="hearth-rotation", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def use(self, credential: str) -> None:
        """The bootstrap now holds ``credential`` (a reload): wait to learn its expiry afresh."""
        with self._lock:
            if credential == self._credential:
                return
            self._credential, self._due, self._failures = credential, None, 0
        self._wake.set()

    def observe(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """A requests response hook: learn the expiry of the current credential from an answer
        to a request made with it (a source still polling with the old one is ignored)."""
        expires_in = _seconds(response.headers.get(EXPIRES_IN_HEADER))
        lifetime = _seconds(response.headers.get(LIFETIME_HEADER))
        if expires_in is None or lifetime is None:
            return
        with self._lock:
            sent = response.request.headers.get("Authorization") if response.request else None
            if self._due is not None or sent != f"Bearer {self._credential}":
                return
            self._schedule(expires_in, lifetime)
        self._wake.set()

    def run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.step())
            self._wake.clear()

    # -- one step --------------------------------------------------------------------------
    def step(self) -> float | None:
        """Rotate if it is due; the seconds until the next step (None: until an expiry is
        learned)."""
        with self._lock:
            due = self._due
        if due is None:
            return None
        wait = due - self._clock()
        if wait > 0:
            return wait
        try:
            self._rotate()
        except RotationFailed as exc:
            return self._back_off(exc)
        self._failures = 0
        with self._lock:
            due = self._due
        # Never back to back, even if the server hands out credentials that live no time.
        return None if due is None else max(MIN_STEP, due - self._clock())

    def _rotate(self) -> None:
        answer = self._call("POST")
        credential, expires_in = answer.get("credential"), answer.get("expires_in")
        if not isinstance(credential, str) or not credential or not _is_seconds(expires_in):
            raise RotationFailed("the rotate answer has no credential and expires_in")
        self._store(credential)
        with self._lock:
            self._credential = credential
            self._schedule(expires_in, expires_in)
        LOG.info(
            "credential rotated; the new one expires in %d s (previous one valid until %s)",
            expires_in,
            answer.get("previous_expires_at"),
        )
        self._on_rotated(credential)

    def _schedule(self, expires_in: float, lifetime: float) -> None:
        self._due = self._clock() + expires_in - lifetime * self._fraction

    def _store(self, credential: str) -> None:
        """Write the new credential into the bootstrap document, so a restart uses it."""
        try:
            document = read_json(self._path)
            if not isinstance(document, dict):
                raise ValueError("not a JSON object")
            document["credential"] = credential
            atomic_write_json(self._path, document, 0o600)
        except (OSError, ValueError) as exc:
            # The server already switched: use the new one in memory anyway, it outlives the old.
            LOG.error(
                "cannot store the rotated credential in %s (%s): this process uses it, "
                "but a restart after the overlap will be refused; fix the file's "
                "permissions or re-enrol the server",
                self._path,
                exc,
            )

    def _call(self, method: str, **options: Any) -> dict[str, Any]:
        with self._lock:
            credential = self._credential
        base = self._replicas.current
        url = base + ROTATE_PATH
        where = f"{method} {url}"
        headers = {"Authorization": f"Bearer {credential}", "Accept": "application/json"}
        try:
            response = self._session.request(method, url, headers=headers, timeout=TIMEOUT, **options)
        except requests.RequestException as exc:
            self._replicas.failed(base, type(exc).__name__)
            raise RotationFailed(f"{type(exc).__name__}: {exc}") from None
        with response:
            if response.status_code >= 500:
                self._replicas.failed(base, f"HTTP {response.status_code}", expected=response.status_code == 503)
            else:
                self._replicas.answered(base)
            if response.status_code != 200:
                raise RotationFailed(
                    f"{where}: HTTP {response.status_code}: {error_message(response.text)}",
                    retry_after_seconds(response.headers.get("Retry-After"), time.time()),
                )
            try:
                answer = response.json()
            except ValueError:
                raise RotationFailed(f"{where}: the answer is not JSON") from None
        if not isinstance(answer, dict):
            raise RotationFailed(f"{where}: the answer is not a JSON object")
        return answer

    def _back_off(self, exc: RotationFailed) -> float:
        self._failures += 1
        delay: float = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (self._failures - 1))
        if exc.retry_after is not None:
            delay = max(delay, min(exc.retry_after, BACKOFF_CAP))
        delay *= 1 + 0.1 * self._jitter()
        level = logging.WARNING if self._failures == 1 or self._failures % 10 == 0 else logging.DEBUG
        LOG.log(
            level,
            "credential rotation failed (attempt %d), keeping the current credential, retrying in %.1f s: %s",
            self._failures,
            delay,
            exc,
        )
        return delay


def _is_seconds(value: object) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


def _seconds(header: str | None) -> float | None:
    try:
        value = float(header) if header is not None else None
    except ValueError:
        return None
    return value if value is not None and value >= 0 else None
