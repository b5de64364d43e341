"""The ``hearth`` collector: owns no files; long-polls the guest metadata URL (``?since=V&wait=S``)
through the injected requests.Session, its only I/O.

With the agent's Replicas it polls ``metadata_url`` moved onto the base in use, and reports
each failure there so that the agent switches to the next base. A base that fails right after
it answered this collector (it closed a parked poll, refused the next connection or answered
503: what a replica does when it stops) raises Unavailable of kind "moved": the source asks
again at once, elsewhere, and does not count it as a failure.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import requests

from agent.collectors import Fetch, NotConfigured, Unavailable
from agent.config import Bootstrap
from agent.outbox import retry_after_seconds
from agent.replicas import Replicas

__all__ = ["Fetch", "HearthCollector"]

CONNECT_TIMEOUT = 10.0
READ_MARGIN = 15.0  # the server may hold a poll for wait + 10 % jitter; give it room
EARLY_ANSWER = 1.0  # a 304 sooner than this after asking waits out the rest of it


class HearthCollector:
    name = "hearth"

    def __init__(self, session: requests.Session, bootstrap: Bootstrap, replicas: Replicas | None = None):
        if not getattr(bootstrap, "metadata_url", None):
            raise NotConfigured("bootstrap has no metadata_url")
        if not getattr(bootstrap, "credential", None):
            raise NotConfigured("bootstrap has no credential")
        self._session = session
        self._url = bootstrap.metadata_url
        self._replicas = replicas  # None: metadata_url as it is, no failover
        self._headers = {"Authorization": f"Bearer {bootstrap.credential}", "Accept": "application/json"}
        self._pause_until = 0.0
        self._answered = False  # the last request got an answer (200 or 304)

    def target(self) -> tuple[str | None, str]:
        """The base in use and metadata_url moved onto it; (None, metadata_url) when
        metadata_url is under none of the bases (it is polled as it is)."""
        if self._replicas is None:
            return None, self._url
        base, path = self._replicas.current, self._replicas.path_of(self._url)
        return (None, self._url) if path is None else (base, base + path)

    def fetch(self, since: Any = None, wait: float = 0.0) -> Fetch:
        """GET metadata_url?since=&wait=; raises Unavailable for anything but 200 and 304."""
        params = {"wait": f"{wait:g}"}
        if since is not None:
            params["since"] = str(since)
        base, url = self.target()
        asked_at = time.monotonic()
        try:
            response = self._session.get(
                url, params=params, headers=self._headers, timeout=(CONNECT_TIMEOUT, wait + READ_MARGIN)
            )
        except requests.RequestException as exc:
            went_away = isinstance(exc, (requests.ConnectionError, requests.exceptions.ChunkedEncodingError))
            raise self._failed(base, f"{type(exc).__name__}: {exc}", "network", went_away) from None
        with response:
            status = response.status_code
            if status < 500 and base is not None and self._replicas is not None:
                self._replicas.answered(base)
            if status == 304 and since is not None:
                # A 304 long before the wait ran out means something ignores ``wait`` (a proxy,
                # an old server): wait_for_change then waits out the rest of EARLY_ANSWER.
                self._pause_until = asked_at + min(wait, EARLY_ANSWER)
                self._answered = True
                return Fetch(changed=False, version=since)
            if status == 200:
                self._answered = True
                return self._parse(response)
            detail = response.text[:300]
            retry_after = retry_after_seconds(response.headers.get("Retry-After"), time.time())
        if status >= 500:
            raise self._failed(base, f"HTTP {status}: {detail}", "server", status == 503)
        self._answered = False
        if status in (401, 403):
            raise Unavailable(f"HTTP {status} (credential refused): {detail}", kind="auth")
        if status == 429:
            raise Unavailable(f"HTTP 429: {detail}", kind="rate-limited", retry_after=retry_after)
        raise Unavailable(f"HTTP {status}: {detail}", kind="server")

    def _failed(self, base: str | None, reason: str, kind: str, went_away: bool) -> Unavailable:
        """The base did not answer: the next request goes to the next base. A base that
        answered the last request and now closes or refuses the connection, or answers 503,
        is a replica stopping: the Unavailable is of kind "moved" (ask again at once)."""
        moved = went_away and self._answered
        self._answered = False
        if base is not None and self._replicas is not None:
            self._replicas.failed(base, reason.split(":")[0] if kind == "network" else reason[:80], expected=moved)
        return Unavailable(reason, kind="moved" if moved else kind)

    def wait_for_change(self, stop: threading.Event, wait: float) -> None:
        """The long-poll itself is the wait: ask again at once (after an early 304, a pause)."""
        pause = self._pause_until - time.monotonic()
        self._pause_until = 0.0
        if pause > 0:
            stop.wait(pause)

    def close(self) -> None:
        """Nothing to release: the session belongs to the agent."""

    @staticmethod
    def _parse(response: requests.Response) -> Fetch:
        try:
            document = response.json()
        except ValueError:
            raise Unavailable("200 answer is not JSON", kind="server") from None
        if not isinstance(document, dict) or not isinstance(document.get("metadata"), dict):
            raise Unavailable("200 answer is not {version, metadata}", kind="server")
        return Fetch(changed=True, version=document.get("version"), metadata=document["metadata"])
