"""Where a sink's events go, one function per sink type in `DELIVERERS`: the webhook's signed
POST, and the zaqar-queue sink's post to the project's own queue; touches the network and the
queues through the `Outbound` it is given, nothing else.

A deliverer takes one event and returns once the receiver has it, or raises `Failed` (counted
as a failed try: retried with backoff, then dead-lettered) or `Unavailable` (nothing to
deliver to on this installation: not counted, tried again at the next sweep, so nothing is
dead-lettered for want of a service).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from engine.errors import HearthError
from engine.outbound import shown
from engine.sinks import wire


class Failed(Exception):
    """The receiver did not take the event (the message says why, and names no secret)."""


class Unavailable(Exception):
    """This installation has nothing that delivers to this kind of sink."""


@dataclass
class Outbound:
    """What deliverers reach the world with (injected: tests mount their own)."""

    http: requests.Session = field(default_factory=requests.Session)
    timeout: float = 10.0
    clock: Callable[[], float] = time.time  # signature timestamps (Unix seconds)
    # The projects' own queues (engine.user_queues.UserQueues: `.post_event(project, name,
    # {"body", "ttl"})`); None where an installation delivers to none.
    queues: Any = None


@dataclass(frozen=True)
class Attempt:
    """One try of one event: its body, sequence and id, and which try it is (1 is the first)."""

    body: dict[str, Any]
    sequence: int
    event_id: str
    number: int


def deliver_webhook(outbound: Outbound, settings: dict[str, Any], attempt: Attempt) -> None:
    """POST the body's exact bytes, signed with the sink's key; any 2xx answer delivers it.
    Redirects are not followed (a redirect is a failure: the signed URL is the one given)."""
    url = settings["url"]
    data = wire.encode(attempt.body)
    headers = wire.headers(
        settings["secret"],
        int(outbound.clock()),
        data,
        sequence=attempt.sequence,
        event_id=attempt.event_id,
        attempt=attempt.number,
    )
    try:
        answer = outbound.http.post(url, data=data, headers=headers, timeout=outbound.timeout, allow_redirects=False)
    except requests.RequestException as error:
        raise Failed(f"{shown(url)}: {type(error).__name__}") from None
    answer.close()
    if not 200 <= answer.status_code < 300:
        raise Failed(f"{shown(url)} answered HTTP {answer.status_code}")


def deliver_to_queue(outbound: Outbound, settings: dict[str, Any], attempt: Attempt) -> None:
    """Heat's ZaqarEventSink.consume: post `{"body": event, "ttl": ttl}` to the queue named by
    `target` in the event's project, made if missing (as Zaqar does on a post). A refusal (the
    queue is full, the body too large) is a failed try: retried, then dead-lettered."""
    if outbound.queues is None:
        raise Unavailable("this installation has no queues to deliver to; the sink keeps its place")
    message = {"body": attempt.body, "ttl": settings.get("ttl")}
    try:
        outbound.queues.post_event(attempt.body["project"], settings["target"], message)
    except HearthError as refused:
        raise Failed(f"queue {settings['target']}: {refused.message}") from None


DELIVERERS: dict[str, Callable[[Outbound, dict[str, Any], Attempt], None]] = {
    "webhook": deliver_webhook,
    "zaqar-queue": deliver_to_queue,
}


def target(settings: dict[str, Any]) -> str:
    """What logs and answers name for a sink: a webhook's scheme, host and path; a queue's name."""
    if settings.get("type") == "webhook":
        return shown(settings["url"])
    return str(settings.get("target", ""))
