"""The ``request`` collector (os-collect-config's): owns no files; polls one URL with HEAD, and GET
only when ``Last-Modified`` moved or is absent, through the injected requests.Session.

Facts kept from os-collect-config's request collector: HEAD then GET with no credential (the
URL itself is the capability, e.g. a Swift TempURL or Hearth's signed collect URL), a 10 s
timeout, the JSON object answered is the whole metadata document, and a ``Last-Modified`` that
is not newer than the one of the last good GET means "unchanged" (an older one is warned
about). Unlike os-collect-config, which builds a new collector every poll so the shortcut never
takes effect, this one keeps its state, so an unchanged URL costs one HEAD per interval.
"""

from __future__ import annotations

import email.utils
import logging
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import requests

from agent.collectors import Fetch, NotConfigured, Unavailable
from agent.collectors.merge import digest
from agent.config import Bootstrap
from agent.outbox import retry_after_seconds

LOG = logging.getLogger("hearth.agent.collectors")

DEFAULT_POLLING_INTERVAL = 30.0
DEFAULT_TIMEOUT = 10.0


def parse_http_date(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


class RequestCollector:
    name = "request"

    def __init__(self, session: requests.Session, bootstrap: Bootstrap):
        section = (getattr(bootstrap, "sections", None) or {}).get("request") or {}
        url = section.get("metadata_url")
        if not url:
            raise NotConfigured("bootstrap has no request.metadata_url")
        self._session = session
        self._url = url
        self.where = urlsplit(url).netloc  # for messages: the URL's query may hold a signature
        self.polling_interval = float(section.get("polling_interval") or DEFAULT_POLLING_INTERVAL)
        self.timeout = float(section.get("timeout") or DEFAULT_TIMEOUT)
        self._last_modified: float | None = None  # of the last good GET
        self._warned_older = False

    def fetch(self, since: Any = None, wait: float = 0.0) -> Fetch:
        """HEAD, then GET unless Last-Modified says nothing changed since the last good GET."""
        last_modified = self._head() if since is not None else None
        if last_modified is not None and self._last_modified is not None and last_modified <= self._last_modified:
            if last_modified < self._last_modified and not self._warned_older:
                LOG.warning(
                    "request collector: Last-Modified from %s went back in time; treating the metadata as unchanged",
                    self.where,
                )
                self._warned_older = True
            return Fetch(changed=False, version=since)
        response = self._call("GET")
        with response:
            if not 200 <= response.status_code < 300:
                raise self._refusal(response)
            try:
                document = response.json()
            except ValueError:
                raise Unavailable(f"answer from {self.where} is not JSON", kind="server") from None
            stamp = parse_http_date(response.headers.get("Last-Modified"))
        if not isinstance(document, dict):
            raise Unavailable(f"answer from {self.where} is not a JSON object", kind="server")
        self._last_modified = stamp if stamp is not None else last_modified
        self._warned_older = False
        return Fetch(changed=True, version=digest(document), metadata=document)

    def wait_for_change(self, stop: threading.Event, wait: float) -> None:
        stop.wait(self.polling_interval)

    def close(self) -> None:
        """Nothing to release: the session belongs to the agent."""

    def _head(self) -> float | None:
        """The Last-Modified of a 2xx HEAD; any other answer just means "GET it"."""
        response = self._call("HEAD")
        with response:
            if 200 <= response.status_code < 300:
                return parse_http_date(response.headers.get("Last-Modified"))
        return None

    def _call(self, method: str) -> requests.Response:
        try:
            return self._session.request(
                method, self._url, timeout=self.timeout, headers={"Accept": "application/json"}
            )
        except requests.RequestException as exc:
            # The exception text can quote the URL, signature and all: name only the host.
            raise Unavailable(f"{method} {self.where}: {type(exc).__name__}") from None

    def _refusal(self, response: requests.Response) -> Unavailable:
        status = response.status_code
        message = f"HTTP {status} from {self.where}"
        if status in (401, 403):
            return Unavailable(f"{message} (URL refused)", kind="auth")
        if status == 429:
            retry_after = retry_after_seconds(response.headers.get("Retry-After"), time.time())
            return Unavailable(message, kind="rate-limited", retry_after=retry_after)
        return Unavailable(message, kind="server")
