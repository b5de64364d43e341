"""The ``hearth`` collector: long-polls the guest metadata URL (``?since=V&wait=S``) with an injected requests.Session."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import requests

from agent.collectors import NotConfigured, Unavailable
from agent.outbox import retry_after_seconds

CONNECT_TIMEOUT = 10.0
READ_MARGIN = 15.0  # the server may hold a poll for wait + 10 % jitter; give it room


@dataclass(frozen=True)
class Fetch:
    """One answer: ``changed`` False means 304 (the version given as ``since`` still holds)."""

    changed: bool
    version: Any = None
    metadata: dict | None = None


class HearthCollector:
    name = "hearth"

    def __init__(self, session: requests.Session, bootstrap):
        if not getattr(bootstrap, "metadata_url", None):
            raise NotConfigured("bootstrap has no metadata_url")
        self._session = session
        self._url = bootstrap.metadata_url
        self._headers = {"Authorization": f"Bearer {bootstrap.credential}",
                         "Accept": "application/json"}

    def fetch(self, since: Any = None, wait: float = 0.0) -> Fetch:
        """GET metadata_url?since=&wait=; raises Unavailable for anything but 200 and 304."""
        params = {"wait": f"{wait:g}"}
        if since is not None:
            params["since"] = str(since)
        try:
            response = self._session.get(self._url, params=params, headers=self._headers,
                                         timeout=(CONNECT_TIMEOUT, wait + READ_MARGIN))
        except requests.RequestException as exc:
            raise Unavailable(f"{type(exc).__name__}: {exc}") from None
        with response:
            status = response.status_code
            if status == 304 and since is not None:
                return Fetch(changed=False, version=since)
            if status == 200:
                return self._parse(response)
            detail = response.text[:300]
            retry_after = retry_after_seconds(response.headers.get("Retry-After"), time.time())
        if status in (401, 403):
            raise Unavailable(f"HTTP {status} (credential refused): {detail}", kind="auth")
        if status == 429:
            raise Unavailable(f"HTTP 429: {detail}", kind="rate-limited", retry_after=retry_after)
        raise Unavailable(f"HTTP {status}: {detail}", kind="server")

    @staticmethod
    def _parse(response: requests.Response) -> Fetch:
        try:
            document = response.json()
        except ValueError:
            raise Unavailable("200 answer is not JSON", kind="server") from None
        if not isinstance(document, dict) or not isinstance(document.get("metadata"), dict):
            raise Unavailable("200 answer is not {version, metadata}", kind="server")
        return Fetch(changed=True, version=document.get("version"), metadata=document["metadata"])
