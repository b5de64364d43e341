"""The ASGI front of every listener: owns request bodies while they arrive, parked guest long-polls,
the health check, /metrics (main listeners only) and the access log; hands each request to the Flask
app in a bounded thread pool (a2wsgi) and touches the engine only through its notifier, its config
and the service's `metrics`.

Why a front and not the WSGI app alone (docs/operations.md, Serving): a thread pool cannot hold
10,000 agents that each wait up to a minute, nor a client that sends its body slowly. So:

- the whole body is read here, on the event loop, within `body_read_timeout` (else 408 and the
  connection closed) and up to the app's MAX_CONTENT_LENGTH, the largest any route takes; a body
  declared or sent beyond it is handed to the app without the rest (the app answers 413 naming
  the route's own cap and setting) and the connection closed, so no pool thread ever reads from a
  client;
- `GET /guest/v1/servers/<id>/metadata?wait=S` is asked of the app with `wait=0` (auth, audit,
  headers and errors stay in the app); when that answer is 304 the request is parked on the
  notifier (`Notifier.park`, no thread) until the server's topic is published or the capped,
  jittered wait runs out, and then asked again or answered with the 304 it has;
- on shutdown every parked long-poll is answered at once with its 304: nothing changed, and the
  agent re-polls (elsewhere if this replica is gone).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from a2wsgi import WSGIMiddleware

from engine.service import redact_url_signatures
from metadata_server import strict
from metadata_server.errors import envelope_body, http_error
from metadata_server.event_stream import EventStreams, since_of
from metadata_server.ingest import SignalIngest
from metadata_server.longpoll import Answer, LongPolls, parse as parse_poll

if TYPE_CHECKING:
    from flask import Flask

access_log = logging.getLogger("hearth.access")
log = logging.getLogger(__name__)

Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
# The scope's key under which the listener (serving.py) gives the connection's future that it
# resolves when the client goes: a parked long-poll watches it instead of a task on receive().
CONNECTION_LOST = "hearth.connection_lost"

# Threads that run the Flask app: each request holds one only while the app computes its answer
# (the body is already read, the answer is queued for the loop to write), so a few dozen serve
# thousands of agents. Below the database pool (30 to 70 connections) so that requests wait for a
# thread rather than time out waiting for a connection.
POOL_THREADS = 24
METADATA = re.compile(r"/guest/v1/servers/([^/]+)/metadata")
HEALTH = "/healthz"
METRICS = "/metrics"


class Front:
    """The ASGI app of one replica's listeners: `app` everywhere, or `by_port[port]` on that port
    (the guest-only listener under gunicorn, where every bound socket reaches one app)."""

    def __init__(
        self, app: Flask, by_port: dict[int, Flask] | None = None, roles: tuple[str, ...] = (), *, metrics: bool = True
    ) -> None:
        self.service = app.extensions["hearth"]
        self.config = self.service.runtime.config
        self.notifier = self.service.runtime.notifier
        self.roles = roles or tuple(sorted({"api", "guest", "engine"}))
        self.apps: dict[int | None, _Wsgi] = {None: _Wsgi(app)}
        self.apps.update({port: _Wsgi(each) for port, each in (by_port or {}).items()})
        self.parked: set[asyncio.Future[Any]] = set()  # parked long-polls' waits (longpoll.py)
        self.stopping = False
        # The route's JSON, as jsonify writes it (compact), for answers this front makes itself.
        self.json_dumps: Callable[[Any], str] = lambda value: app.json.dumps(value, separators=(",", ":"))
        self.longpolls = LongPolls(self)
        self.streams = EventStreams(self)  # the project event stream's long-polls and SSE
        self.signals = SignalIngest(self)
        self.on_shutdown: list[Callable[[], None]] = []  # run (off the loop) when the lifespan ends
        # /metrics on this front's own listener, never on a guest-only port (by_port): the
        # instance network must not see it (docs/operations.md, Metrics).
        self.metrics = metrics and self.config.metrics_enabled

    def release_parked(self) -> None:
        """Answer every parked long-poll now with its 304 and park no more (on the loop's thread)."""
        self.stopping = True
        for waiter in list(self.parked):
            if not waiter.done():
                waiter.set_result(False)  # as a wait that ran out: the poll answers its 304

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":  # websockets: nothing here speaks them
            await send({"type": "websocket.close", "code": 1000})
            return
        if not access_log.isEnabledFor(logging.INFO):  # off by default: no line to write
            await self._serve(scope, receive, send)
            return
        logged = _Logged(scope, send)
        try:
            await self._serve(scope, receive, logged)
        finally:
            logged.write()  # once: when the answer ended, else now (no answer, or the client left)

    async def _serve(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["path"] == HEALTH and scope["method"] in ("GET", "HEAD"):
            await self._health(send)
            return
        port = (scope.get("server") or (None, None))[1]
        if (
            scope["path"] == METRICS
            and scope["method"] in ("GET", "HEAD")
            and self.metrics
            and (port is None or port not in self.apps)
        ):
            await self._metrics(scope, send)
            return
        wsgi = self.apps.get(port) or self.apps[None]
        body, scope, close = await self._read_body(scope, receive, send)
        if body is None:  # answered (408) or the client has gone
            return
        if close:
            send = _closing(send)
        signal = None if close or not wsgi.guest else self.signals.claim(scope, body, wsgi.budgets)
        if signal is not None:
            answer = await self.signals.store(signal)
            if answer is not None:
                await _answer_json(send, 200, self.json_dumps(answer) + "\n")
                return
        stream = None if close or signal is not None else self.streams.claim(scope, wsgi.app.view_functions)
        if stream is not None:
            project, args, wait, sse = stream

            async def ask_app(asked: Message, answer: Answer) -> None:
                await wsgi.call(asked, b"", answer.receive)

            ask = self.streams.asker(ask_app, scope, args)
            lost = scope.get(CONNECTION_LOST)
            if sse:
                await self.streams.stream(project, ask, since_of(args), send, lost)
            else:
                await self.streams.longpoll(project, ask, since_of(args), wait, send, lost)
            return
        longpoll = None if close or signal is not None else self._longpoll(scope, wsgi)
        if longpoll is None:
            await wsgi.call(scope, body, send)
        else:
            args, server_id, wait = longpoll

            async def call(answer: Answer) -> None:
                # The route is asked with wait=0 (the front does the waiting).
                query = urlencode([(n, "0" if n == "wait" else v) for n, v in args]).encode("latin-1")
                await wsgi.call({**scope, "query_string": query}, b"", answer.receive)

            poll = parse_poll(scope, server_id, wait, args)
            await self.longpolls.serve(call, poll, receive, send, scope.get(CONNECTION_LOST))

    # Bodies ---------------------------------------------------------------------------------
    async def _read_body(self, scope: Message, receive: Receive, send: Send) -> tuple[bytes | None, Message, bool]:
        """(body, scope to hand on, whether to close after answering); the body is None when the
        request was answered here or its client went away."""
        cap = int(self.apps[None].app.config.get("MAX_CONTENT_LENGTH") or self.config.max_body_bytes)
        headers = scope["headers"]
        declared = next((value for name, value in headers if name == b"content-length"), None)
        if declared is not None and declared.strip().isdigit() and int(declared) > cap:
            return b"", scope, True  # the app refuses the declared length; the rest is never read
        if declared is None and not any(name == b"transfer-encoding" for name, _ in headers):
            # No body (HTTP/1.1: neither header): its end has already been parsed with the head.
            message = await receive()
            if message["type"] == "http.disconnect":
                return None, scope, True
            return b"", {**scope, "headers": [*headers, (b"content-length", b"0")]}, False
        body = bytearray()
        try:
            async with asyncio.timeout(self.config.body_read_timeout):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return None, scope, True
                    body += message.get("body", b"")
                    if len(body) > cap:  # a body of undeclared length past every route's cap
                        body = body[: cap + 1]
                        break
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            await _refuse(
                send,
                408,
                f"the request body did not arrive within {self.config.body_read_timeout:g} s (setting "
                "body_read_timeout): send the whole body at once after the headers",
            )
            return None, scope, True
        over = len(body) > cap
        if declared is None or over:  # chunked: handed on as a body of known length
            kept = [(n, v) for n, v in headers if n not in (b"content-length", b"transfer-encoding")]
            scope = {**scope, "headers": [*kept, (b"content-length", str(len(body)).encode())]}
        return bytes(body), scope, over

    # Long-polls -----------------------------------------------------------------------------
    def _longpoll(self, scope: Message, wsgi: _Wsgi) -> tuple[list[tuple[str, str]], str, float] | None:
        """(query arguments, server id, seconds) of a guest metadata long-poll this front holds;
        None for any other request, and for a `wait` the app will refuse (it says why)."""
        if scope["method"] != "GET" or not wsgi.guest:
            return None
        match = METADATA.fullmatch(scope["path"])
        if match is None:
            return None
        args = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        raw = next((value for name, value in args if name == "wait"), "")
        try:
            wait = strict.number("wait", raw) if raw else 0.0
        except Exception:  # noqa: BLE001 - the app answers it with the reason
            return None
        if wait <= 0:
            return None
        return args, match.group(1), wait

    # Health and lifespan --------------------------------------------------------------------
    async def _health(self, send: Send) -> None:
        """200 while serving, 503 once stopping (a load balancer stops sending); no database read,
        so that an engine-only replica, which serves nothing else, answers it too."""
        status = 503 if self.stopping else 200
        body = json.dumps(
            {
                "status": "stopping" if self.stopping else "ok",
                "roles": list(self.roles),
                "pid": os.getpid(),
                "parked": len(self.parked),
            }
        ).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _metrics(self, scope: Message, send: Send) -> None:
        """Prometheus' text format, rendered off the loop (it may read the store's gauges), after
        the metrics_token when one is set; no budget and no access-log redaction is needed: it
        names no stack, server or secret."""
        token = self.config.metrics_token
        if token:
            given = next((v for n, v in scope["headers"] if n == b"authorization"), b"").decode("latin-1")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                detail = "/metrics needs the metrics_token setting's value as Authorization: Bearer TOKEN"
                body = json.dumps(envelope_body(401, *http_error(401, detail)))
                await _answer_json(send, 401, body)
                return
        body, content_type = await asyncio.to_thread(self.service.metrics.render)
        headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for each in self.on_shutdown:
                    await asyncio.to_thread(each)
                await send({"type": "lifespan.shutdown.complete"})
                return


class _Wsgi:
    """The Flask app behind a2wsgi's WSGIMiddleware: a pool of its own, and answers queued for
    the loop to write, so a thread is free again as soon as the app has answered."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.guest = "guest.metadata" in app.view_functions
        self.budgets = app.extensions.get("hearth_budgets")
        self.middleware = WSGIMiddleware(app, workers=POOL_THREADS, send_queue_size=64)  # type: ignore[arg-type]

    async def call(self, scope: Message, body: bytes, send: Send) -> None:
        given = False

        async def receive() -> Message:
            nonlocal given
            if given:
                return {"type": "http.disconnect"}
            given = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.middleware(scope, receive, send)  # type: ignore[arg-type]  # ASGI's messages as dicts


class _Logged:
    """A `send` that writes the request's access log line as its answer ends (before the last
    byte goes out, so whoever reads the answer can find the line), signatures redacted."""

    def __init__(self, scope: Message, send: Send) -> None:
        self.scope, self.send = scope, send
        self.status, self.size, self.started, self.written = 0, 0, time.monotonic(), False
        self.length = -1

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            length = next((v for n, v in message.get("headers", ()) if n.lower() == b"content-length"), b"")
            self.length = int(length) if length.isdigit() else -1
        elif message["type"] == "http.response.body":
            self.size += len(message.get("body", b""))
            # The answer's last byte may go out before its end is sent (a2wsgi ends with b"").
            if not message.get("more_body", False) or self.size == self.length:
                self.write()
        await self.send(message)

    def write(self) -> None:
        if self.written:
            return
        self.written = True
        if not access_log.isEnabledFor(logging.INFO):
            return  # off by default: a fleet's polls would flood it (and the redaction costs)
        scope = self.scope
        query = scope.get("query_string") or b""
        target = scope["path"] + ("?" + query.decode("latin-1") if query else "")
        access_log.info(
            '%s "%s %s HTTP/%s" %s %d %.3f',
            (scope.get("client") or ("-", 0))[0],
            scope["method"],
            redact_url_signatures(target),
            scope["http_version"],
            self.status or "-",
            self.size,
            time.monotonic() - self.started,
        )


def _closing(send: Send) -> Send:
    """A `send` whose answer closes the connection (the rest of the body is never read)."""

    async def closing(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(n, v) for n, v in message.get("headers", []) if n.lower() != b"connection"]
            message = {**message, "headers": [*headers, (b"connection", b"close")]}
        await send(message)

    return closing


async def _answer_json(send: Send, status: int, text: str, *, close: bool = False) -> None:
    """An answer this front makes as the app's route would (jsonify's compact JSON)."""
    body = text.encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _refuse(send: Send, status: int, detail: str) -> None:
    """An answer of this front in the app's JSON error envelope; the connection closes after it."""
    await _answer_json(send, status, json.dumps(envelope_body(status, *http_error(status, detail))), close=True)
