"""Follow a stack's events with the long-poll, through the HearthClient it is given (HTTP only, and
an injectable sleep between rounds), and decide (purely) when an operation is over."""

from __future__ import annotations

import time
from collections.abc import Callable

from engine.cli.client import ApiError, HearthClient

POLL_WAIT = 20  # seconds the server may hold one events request (it caps it at 60)
PAGE = 100  # events per request when reading the backlog
MIN_ROUND = 1.0  # an empty answer sooner than this means the server ignored `wait`


# Pure decisions -----------------------------------------------------------------------------


def event_line(event: dict) -> str:
    """`2026-11-22 04:30:01Z [web]: CREATE_IN_PROGRESS  state changed` (openstack's log form)."""
    when = str(event.get("event_time") or "").replace("T", " ", 1)
    reason = event.get("resource_status_reason") or ""
    return f"{when} [{event.get('resource_name', '')}]: {event.get('resource_status', '')}  {reason}".rstrip()


def is_stack_event(event: dict, stack: dict) -> bool:
    """Stack-level events carry the stack's name as resource and its id as physical id."""
    return event.get("resource_name") == stack.get("stack_name") and event.get("physical_resource_id") == stack.get(
        "id"
    )


def status_outcome(action: str, status: str | None) -> str | None:
    """ "COMPLETE" or "FAILED" when `status` ends `action`, else None (still going, or other)."""
    if status == f"{action}_COMPLETE":
        return "COMPLETE"
    if status == f"{action}_FAILED":
        return "FAILED"
    return None


def terminal_event(events: list[dict], stack: dict, action: str) -> dict | None:
    """The first stack-level event in `events` that ends `action`, if any."""
    for event in events:
        if is_stack_event(event, stack) and status_outcome(action, event.get("resource_status")):
            return event
    return None


def fallback_outcome(
    action: str, stack_status: str | None, *, before_status: str | None, seen_events: bool
) -> str | None:
    """What the stack's own status says when no terminal event has been seen.

    A status left over from before the operation (a retried delete still showing its old
    DELETE_FAILED) is not trusted until the operation has produced at least one event.
    """
    outcome = status_outcome(action, stack_status)
    if outcome and (seen_events or stack_status != before_status):
        return outcome
    return None


def is_gone_event(event: dict, stack: dict) -> bool:
    return is_stack_event(event, stack) and event.get("resource_status") == "DELETE_COMPLETE"


# The feed -----------------------------------------------------------------------------------


class EventFeed:
    """A stack's events after `marker`, each event given once, in the server's order."""

    def __init__(
        self,
        client: HearthClient,
        stack: dict,
        *,
        marker: str | None = None,
        min_round: float = MIN_ROUND,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.client = client
        self.stack = stack
        self.marker = marker
        self.seen: set[str] = set()
        self.min_round = min_round
        self.clock = clock
        self.sleep = sleep

    def _take(self, events: list[dict]) -> list[dict]:
        # The answer is only "maybe changed": compare with what was already given out.
        fresh = [e for e in events if e.get("id") not in self.seen]
        self.seen.update(e.get("id") for e in fresh)
        if events:
            self.marker = events[-1].get("id") or self.marker
        return fresh

    def backlog(self) -> list[dict]:
        """Everything after the marker that exists now, page by page, without waiting."""
        out: list[dict] = []
        while True:
            page = self.client.list_events(self.stack, marker=self.marker, limit=PAGE)
            out.extend(self._take(page))
            if len(page) < PAGE:
                return out

    def next(self, wait: float = POLL_WAIT) -> list[dict]:
        """One long-poll round: new events, or [] when the server's wait ran out."""
        started = self.clock()
        try:
            events = self._take(self.client.list_events(self.stack, marker=self.marker, wait=wait))
        except ApiError:
            self._pace(started)
            raise
        if not events:
            self._pace(started)
        return events

    def _pace(self, started: float) -> None:
        # A server that ignores `wait` must not turn the loop into a busy loop.
        left = self.min_round - (self.clock() - started)
        if left > 0:
            self.sleep(left)


# Loops --------------------------------------------------------------------------------------


def wait_for(
    feed: EventFeed, action: str, echo: Callable[[dict], None], *, before_status: str | None = None
) -> tuple[str, str]:
    """Give each event to `echo` (engine.cli.progress shows it) until `action` ends; return
    ("COMPLETE"|"FAILED", the stack's reason)."""
    client, stack = feed.client, feed.stack
    seen_events = False
    while True:
        events_gone = False
        try:
            events = feed.next()
        except ApiError as exc:
            if not (exc.status == 404 and action == "DELETE"):
                raise
            events, events_gone = [], True
        for event in events:
            echo(event)
        seen_events = seen_events or bool(events)
        event = terminal_event(events, stack, action)
        if event is not None:
            outcome = status_outcome(action, event.get("resource_status"))
            reason = event.get("resource_status_reason") or ""
            if outcome == "FAILED":
                reason = stack_reason(client, stack, event["resource_status"]) or reason
            return outcome, reason
        try:
            current = client.get_stack(stack["id"])
        except ApiError as exc:
            if exc.status == 404 and action == "DELETE":
                return "COMPLETE", ""
            raise
        outcome = fallback_outcome(
            action, current.get("stack_status"), before_status=before_status, seen_events=seen_events
        )
        if outcome:
            if not events_gone:
                drain(feed, echo)
            return outcome, current.get("stack_status_reason") or ""


def drain(feed: EventFeed, echo: Callable[[dict], None]) -> None:
    """Print events that landed between the last poll and the status check."""
    try:
        events = feed.backlog()
    except ApiError as exc:
        if exc.status == 404:
            return
        raise
    for event in events:
        echo(event)


def stack_reason(client: HearthClient, stack: dict, status: str) -> str:
    """The stack's reason while it is still `status` (a rollback that began since has its own)."""
    try:
        current = client.get_stack(stack["id"])
    except ApiError:
        return ""
    return (current.get("stack_status_reason") or "") if current.get("stack_status") == status else ""


def follow(feed: EventFeed, echo: Callable[[dict], None]) -> None:
    """Give every new event to `echo` until the stack is deleted (Ctrl-C stops it sooner)."""
    while True:
        try:
            events = feed.next()
        except ApiError as exc:
            if exc.status == 404 and stack_is_gone(feed.client, feed.stack):
                return
            raise
        for event in events:
            echo(event)
        if any(is_gone_event(event, feed.stack) for event in events):
            return


def stack_is_gone(client: HearthClient, stack: dict) -> bool:
    try:
        return client.get_stack(stack["id"]).get("stack_status") == "DELETE_COMPLETE"
    except ApiError as exc:
        if exc.status == 404:
            return True
        raise
