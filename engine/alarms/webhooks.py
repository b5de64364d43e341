"""The alarm actions: Aodh's webhook body POSTed to each URL of a state, on a small pool of its
own (engine.outbound.Pool), with a timeout and bounded retries with backoff, so a slow or dead
URL never stalls the evaluation; touches the network only, through an injected
`requests.Session`.

A URL may carry a signature in its query (a scaling policy's pre-signed alarm_url): logs name
the scheme, host and path only (engine.outbound.shown).
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from typing import Any

import requests

from engine.outbound import Pool, shown

log = logging.getLogger(__name__)

POOL = 4  # threads that make the calls
MOST_PENDING = 1000  # calls queued at most; further ones are dropped (and logged)
BACKOFF = 0.5  # seconds before the first retry, doubled for each next one


__all__ = ["Webhooks", "body", "shown"]


def body(alarm_id: str, name: str, severity: str, previous: str, current: str, reason: str, data: dict) -> dict:
    """Aodh's webhook body (aodh/notifier/rest.py)."""
    return {
        "alarm_id": alarm_id,
        "alarm_name": name,
        "severity": severity,
        "previous": previous,
        "current": current,
        "reason": reason,
        "reason_data": data,
    }


class Webhooks:
    """Calls alarm actions in the background; `stop` abandons retries still waiting."""

    def __init__(
        self,
        session: requests.Session | None = None,
        *,
        timeout: float = 10.0,
        retries: int = 2,
        backoff: float = BACKOFF,
    ):
        self.session = session or requests.Session()
        self.timeout = timeout
        self.backoff = backoff
        self.retries = max(int(retries), 0)
        self._pool = Pool(POOL, MOST_PENDING, "alarm-action")
        self._stop = threading.Event()

    def send(self, urls: list[str], payload: dict[str, Any]) -> int:
        """Queue one POST of `payload` to each URL; the number queued."""
        queued = 0
        for url in urls:
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                log.warning(
                    "alarm %s: action %r is not an http(s) URL; skipped", payload.get("alarm_id"), shown(str(url))
                )
                continue
            if self._stop.is_set() or not self._pool.submit(self._call, url, payload):
                log.warning(
                    "alarm %s: %d actions pending; the call to %s is dropped",
                    payload.get("alarm_id"),
                    self._pool.pending,
                    shown(url),
                )
                continue
            queued += 1
        return queued

    def _call(self, url: str, payload: dict[str, Any]) -> None:
        data = json.dumps(payload)
        headers = {"Content-Type": "application/json", "X-OpenStack-Request-ID": f"req-{uuid.uuid4()}"}
        for attempt in range(self.retries + 1):
            if attempt and self._stop.wait(self.backoff * 2 ** (attempt - 1)):
                return
            try:
                answer = self.session.post(url, data=data, headers=headers, timeout=self.timeout)
            except requests.RequestException as error:
                outcome = type(error).__name__
            else:
                if answer.status_code < 500:
                    log.info(
                        "alarm %s (%s -> %s): %s answered %d",
                        payload["alarm_id"],
                        payload["previous"],
                        payload["current"],
                        shown(url),
                        answer.status_code,
                    )
                    return
                outcome = f"HTTP {answer.status_code}"
            log.warning(
                "alarm %s: action %s failed (%s), attempt %d of %d",
                payload["alarm_id"],
                shown(url),
                outcome,
                attempt + 1,
                self.retries + 1,
            )

    def stop(self) -> None:
        self._stop.set()
        self._pool.stop()
