"""The project event stream's waits, held by the ASGI front (docs/events.md): owns the long-poll
(`GET /v1/<project>/events?wait=S`) and the Server-Sent Events stream (the same path with
`Accept: text/event-stream`); holds no thread while waiting and touches the engine only through
the notifier.

Both ask the app's route for every answer with `wait=0` (so authentication, authorization, the
errors and the events' shape stay in the app, and a revoked token ends a stream at its next
read), and wait between asks on the notifier topic `events:<project>`, which every replica
publishes when a unit of work with that project's events commits. The topic's counter is noted
before each ask, so an event committed between the ask and the wait wakes the wait at once.

An SSE stream begins after `Last-Event-ID` (a reconnecting EventSource sends it) or `since`,
sends each event as `id: <sequence>`, `event: <ACTION_STATUS>` and its JSON on `data:`, and a
comment line every KEEPALIVE seconds while nothing happens (so proxies keep the connection and
a client that went is noticed); it ends when the client goes, the replica stops, or a read is
refused (an `event: error` with the app's JSON error first).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from metadata_server import strict
from metadata_server.longpoll import Answer

if TYPE_CHECKING:
    from metadata_server.asgi import Front

Message = dict[str, Any]
Send = Callable[[Message], Awaitable[None]]
Ask = Callable[[int], Awaitable[Answer]]

EVENTS = re.compile(r"/v1/([^/]+)/events")
ROUTE = "orchestration.event_stream"
# The same stream for the web console's EventSource, which cannot send a token header: its route
# authorises the console's cookie instead (metadata_server/console/views.py).
STREAMS = ((EVENTS, ROUTE), (re.compile(r"/console/stream/([^/]+)"), "console.event_stream"))
KEEPALIVE = 15.0  # seconds between comment lines on a quiet stream


class EventStreams:
    def __init__(self, front: Front) -> None:
        self.front = front

    def claim(self, scope: Message, app_routes: Any) -> tuple[str, list[tuple[str, str]], float, bool] | None:
        """(project, query arguments, wait, whether SSE) for a stream request this front holds;
        None for any other request, and for arguments the app will refuse (it says why)."""
        if scope["method"] != "GET":
            return None
        match = next(
            (found for path, route in STREAMS if route in app_routes and (found := path.fullmatch(scope["path"]))),
            None,
        )
        if match is None:
            return None
        args = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        accept = b",".join(v for n, v in scope["headers"] if n == b"accept")
        sse = b"text/event-stream" in accept
        raw = next((value for name, value in args if name == "wait"), "")
        try:
            wait = strict.number("wait", raw) if raw else 0.0
        except Exception:  # noqa: BLE001 - the app answers it with the reason
            return None
        if not sse and wait <= 0:
            return None
        since = next((value for name, value in args if name == "since"), "0")
        if not since.isdigit():
            return None  # the app answers why
        if sse:
            last = next((v for n, v in scope["headers"] if n == b"last-event-id"), b"").decode("latin-1").strip()
            if last.isdigit():
                args = [(n, v) for n, v in args if n != "since"] + [("since", last)]
        return match.group(1), args, wait, sse

    def asker(self, call: Callable[[Message, Answer], Awaitable[None]], scope: Message, args: list) -> Ask:
        """Ask the app for the events after a number, as a JSON read with wait=0."""
        kept = [(n, v) for n, v in args if n not in ("wait", "since")]
        headers = [(n, v) for n, v in scope["headers"] if n not in (b"accept", b"last-event-id")]
        headers.append((b"accept", b"application/json"))

        async def ask(since: int) -> Answer:
            query = urlencode([*kept, ("since", str(since)), ("wait", "0")]).encode("latin-1")
            answer = Answer()
            await call({**scope, "query_string": query, "headers": headers}, answer)
            return answer

        return ask

    async def longpoll(self, project: str, ask: Ask, since: int, wait: float, send: Send, lost: Any) -> None:
        topic = "events:" + project
        seen = self.front.notifier.counter(topic)
        answer = await ask(since)
        if answer.status == 200 and not _events(answer) and not self.front.stopping:
            wait = min(wait, self.front.config.longpoll_max_wait)
            if await self._wait(topic, seen, wait, lost):
                answer = await ask(since)
        await answer.send_to(send)

    async def stream(self, project: str, ask: Ask, since: int, send: Send, lost: Any) -> None:
        topic = "events:" + project
        seen = self.front.notifier.counter(topic)
        answer = await ask(since)
        if answer.status != 200:
            await answer.send_to(send)
            return
        headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),  # nginx: pass each event on at once
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        with contextlib.suppress(OSError, RuntimeError):  # the client went while we wrote
            while await self._relay(answer, send):
                document = json.loads(answer.body)
                since = int(document["next"])
                if not document["events"] or since >= int(document["latest"]):  # all sent: wait
                    while not await self._wait(topic, seen, KEEPALIVE, lost):
                        if self._over(lost):
                            break
                        await send({"type": "http.response.body", "body": b": keepalive\n\n", "more_body": True})
                if self._over(lost):
                    break
                seen = self.front.notifier.counter(topic)
                answer = await ask(since)
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _relay(self, answer: Answer, send: Send) -> bool:
        """Send an answer's events as SSE frames (True), or its refusal as an `error` event (False)."""
        if answer.status != 200:
            error = bytes(answer.body).decode("utf-8", "replace").replace("\n", " ")
            await send(
                {"type": "http.response.body", "body": f"event: error\ndata: {error}\n\n".encode(), "more_body": True}
            )
            return False
        chunk = "".join(_sse(event) for event in _events(answer))
        if chunk:
            await send({"type": "http.response.body", "body": chunk.encode(), "more_body": True})
        return True

    def _over(self, lost: Any) -> bool:
        return self.front.stopping or (lost is not None and lost.done())

    async def _wait(self, topic: str, seen: int, timeout: float, lost: Any) -> bool:
        """Until the topic is published after `seen` (True), or `timeout` passes, the client goes
        or the replica stops (False). Holds no thread."""
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[Any] = loop.create_future()
        notifier = self.front.notifier
        if not notifier.park(topic, seen, woken):
            return True
        self.front.parked.add(woken)  # release_parked answers it (False) when the replica stops
        try:
            waits = [woken] + ([lost] if lost is not None else [])
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            return woken.done() and woken.result() is None and not self.front.stopping
        finally:
            self.front.parked.discard(woken)
            notifier.unpark(topic, woken)


def _events(answer: Answer) -> list:
    try:
        return list(json.loads(answer.body).get("events") or [])
    except (ValueError, AttributeError):
        return []


def _sse(event: dict) -> str:
    """One event as Server-Sent Events frame it (its JSON holds no newline)."""
    data = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
    return f"id: {event['sequence']}\nevent: {event['resource_status']}\ndata: {data}\n\n"


def since_of(args: list[tuple[str, str]]) -> int:
    """The `since` to begin with (claim refused any that is not a number)."""
    return int(next((value for name, value in args if name == "since"), "0"))
