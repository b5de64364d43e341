"""The HTTP listeners: owns their sockets and event loops (uvicorn with httptools, one loop per
listener, or gunicorn's uvicorn workers); touches the engine only through the ASGI front
(metadata_server/asgi.py) and the apps it serves.

`listen(host, port, app)` binds now and returns a Listener (`server_port`, `serve_forever()`,
`shutdown()` from another thread, `server_close()`). What the HTTP layer refuses before the app
sees a request (a malformed request 400, a request line over 65536 bytes 414, a header line over
65536 bytes or more than 100 of them 431: http.server's limits, which Hearth had before) is
answered in the app's JSON error envelope and the connection closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import socket
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httptools
import uvloop
from uvicorn import Config as UvicornConfig, Server
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn_worker import UvicornWorker

from metadata_server.asgi import CONNECTION_LOST, Front
from metadata_server.errors import envelope_body, http_error

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger(__name__)

# After a restart every agent reconnects at once: a backlog of 128 made thousands of them wait
# for SYN retransmits (bench/README.md).
BACKLOG = 4096
MAX_LINE = 65536  # request line, and each header line (http.server's limit)
MAX_HEADERS = 100
DEFAULT_HEAD_TIMEOUT = 30.0  # head_read_timeout when the app has no config (engine/config.py has the setting)
# A request's head is refused past this many bytes even while one header is still arriving.
MAX_HEAD = MAX_LINE * (MAX_HEADERS + 1) + 4096


class _Refused(Exception):
    """Raised in a parser callback: httptools stops, and uvicorn calls send_400_response."""


# A connection closed while its client is still sending the body (an answer given before the body
# was read: 413, 408) first lingers, reading and discarding, so that the kernel does not reset it
# and the client, busy sending, does read the answer: at most this long and this much.
LINGER_SECONDS = 5.0
LINGER_BYTES = 64 * 1024 * 1024


class _LingeringTransport:
    """The connection's transport, whose close() half-closes first when a body is still coming,
    and whose writes in one turn of the loop leave together: uvicorn writes an answer's head and
    its body apart, and each write to a socket is a send, a segment and a wake-up of the client
    (a fleet's burst of answers spent most of its time in them)."""

    def __init__(self, transport: asyncio.Transport, protocol: HearthProtocol) -> None:
        self._transport, self._protocol = transport, protocol
        self._pending: list[bytes] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._protocol.loop.call_soon(self._flush)
        self._pending.append(data)

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        if pending and not self._transport.is_closing():
            self._transport.write(b"".join(pending))

    def close(self) -> None:
        self._flush()  # what was written goes before the FIN
        transport, protocol = self._transport, self._protocol
        if protocol.lingering or transport.is_closing() or protocol.body_complete:
            transport.close()
            return
        protocol.lingering = True
        transport.write_eof()  # the answer is queued before the FIN; the client's bytes still come in
        transport.resume_reading()
        protocol.loop.call_later(LINGER_SECONDS, transport.close)


class _Parser:
    """httptools' parser, telling its protocol which refusal a parse error is before uvicorn
    answers it (uvicorn says 400 to them all): a method nothing serves is 405, an HTTP version
    other than 1.x is 505, as http.server answered them."""

    def __init__(self, parser: Any, protocol: HearthProtocol) -> None:
        self._parser, self._protocol = parser, protocol

    def feed_data(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserInvalidMethodError:
            if _request_line(data, rb"[A-Za-z]+"):  # a method, well formed: not one we serve
                self._protocol._refusal = 405
            raise
        except httptools.HttpParserError as error:
            if "HTTP version" in str(error) and _request_line(data, rb"[^ ]+"):
                self._protocol._refusal = 505
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._parser, name)


def _request_line(data: bytes, method: bytes) -> bool:
    """Whether the request line is well formed (METHOD TARGET HTTP/d.d) with such a method:
    then an unknown method or version is refused as such, not as a malformed request (400)."""
    line = data.split(b"\r\n", 1)[0]
    return re.fullmatch(method + rb" [^ ]+ HTTP/\d\.\d", line) is not None


class HearthProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with http.server's limits on the request head, its refusals
    in the JSON envelope, parked long-polls released when the server starts stopping, and a
    deadline on the request head: from the connection, or from the first byte of a request, its
    line and headers must arrive within `head_read_timeout` (else 408 and the connection closed;
    uvicorn times out only an idle keep-alive connection, so a client trickling a head, or
    connecting and sending nothing, would hold its connection for ever)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.parser = _Parser(self.parser, self)  # type: ignore[assignment]  # a wrapper of it
        self._refusal = 400
        self._in_head = True
        self._head_bytes = 0
        self._header_count = 0
        self.lingering = False
        self._discarded = 0
        config = getattr(self.app, "config", None)
        self._head_timeout = float(getattr(config, "head_read_timeout", DEFAULT_HEAD_TIMEOUT))
        self._head_timer: asyncio.TimerHandle | None = None
        self._lost: asyncio.Future[None] | None = None  # resolved when the connection is lost

    @property
    def body_complete(self) -> bool:
        return self._in_head

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_LingeringTransport(transport, self))  # type: ignore[arg-type]
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)
        super().connection_lost(exc)

    def _arm_head_timer(self) -> None:
        if self._head_timer is None and self._head_timeout > 0:
            self._head_timer = self.loop.call_later(self._head_timeout, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._in_head and not self.transport.is_closing():
            self._refusal = 408
            self.send_400_response("")

    def data_received(self, data: bytes) -> None:
        if self.lingering:
            self._discarded += len(data)
            if self._discarded > LINGER_BYTES:
                self.transport.close()
            return
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > MAX_HEAD and not self.transport.is_closing():
            self._refusal = 431
            self.send_400_response("")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_count, self._refusal = 0, 400
        self._arm_head_timer()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > MAX_LINE:
            self._refusal = 414
            raise _Refused()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if len(name) + len(value) + 2 > MAX_LINE or self._header_count > MAX_HEADERS:
            self._refusal = 431
            raise _Refused()
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head, self._head_bytes = False, 0
        self._disarm_head_timer()
        # One future per connection, resolved when it is lost: a parked long-poll notices a
        # client that went through it, without a task of its own waiting on receive().
        if self._lost is None:
            self._lost = self.loop.create_future()
        self.scope[CONNECTION_LOST] = self._lost  # type: ignore[literal-required]
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_head = True
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        """Every refusal of the HTTP layer (uvicorn calls this for any request httptools cannot
        parse, and for the limits above, raised in the parser's callbacks)."""
        status = self._refusal
        detail = None if status != 400 else f"the request is not valid HTTP/1.1 ({msg.rstrip('.')})"
        if status == 408:
            detail = (
                f"the request line and headers did not arrive within {self._head_timeout:g} s (setting "
                "head_read_timeout): send the whole request head at once"
            )
        body = json.dumps(envelope_body(status, *http_error(status, detail))).encode()
        head = (
            f"HTTP/1.1 {status} {envelope_body(status, '', '', '')['title']}\r\n"
            "content-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        )
        if not self.transport.is_closing():
            self.transport.write(head.encode() + body)
            self.transport.close()

    def shutdown(self) -> None:
        super().shutdown()
        release = getattr(self.app, "release_parked", None)
        if release is not None:
            release()


UVICORN_OPTIONS: dict[str, Any] = {
    "http": HearthProtocol,
    "loop": "uvloop",  # libuv's loop: a parked poll and its wake-up cost less than on asyncio's
    "access_log": False,  # the front writes it, redacted (metadata_server/asgi.py)
    "proxy_headers": False,  # client addresses are the peers', as the budgets expect
    "server_header": False,
    "log_config": None,
}


class _Server(Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # signals belong to whoever runs the listener (`hearth server`, a test)


class Listener:
    """One uvicorn server on a socket bound at creation, run by `serve_forever()` on the calling
    thread (its event loop lives there) until `shutdown()`."""

    def __init__(self, sock: socket.socket, front: Front) -> None:
        config = front.config
        self.socket, self.front = sock, front
        self.server_port = sock.getsockname()[1]
        self.server = _Server(
            UvicornConfig(
                front,
                lifespan="off",  # the caller owns the engine (it stops it after shutdown)
                timeout_keep_alive=config.keepalive_seconds,
                timeout_graceful_shutdown=config.shutdown_grace,
                backlog=BACKLOG,
                **UVICORN_OPTIONS,
            )
        )
        self._serving = threading.Event()
        self._stopped = threading.Event()

    def serve_forever(self) -> None:
        self._serving.set()
        try:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                runner.run(self.server.serve(sockets=[self.socket]))
        finally:
            self._stopped.set()

    def shutdown(self) -> None:
        """Stop accepting, answer parked long-polls (304), let requests in flight finish within
        shutdown_grace; returns when the loop has stopped."""
        self.server.should_exit = True
        if self._serving.is_set():
            self._stopped.wait()

    def server_close(self) -> None:
        self.socket.close()


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def listen(host: str, port: int, app: Flask, roles: tuple[str, ...] = ()) -> Listener:
    """Bind now (port 0 picks a free port: see `server_port`); serve with `serve_forever()`."""
    return Listener(bind(host, port), Front(app, roles=roles))


def parse_address(text: str, setting: str = "guest_listen") -> tuple[str, int]:
    """`HOST:PORT` (`[::1]:8005` for IPv6) as (host, port), or a ValueError naming `setting`."""
    host, sep, port = text.strip().rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{setting} must be HOST:PORT (for example 10.0.0.5:8005), not '{text}'")
    return host, int(port)


def serve_all(listeners: list[Listener]) -> None:
    """Serve every listener, the first on this thread, until `shutdown_all` stops them."""
    threads = [
        threading.Thread(target=each.serve_forever, name=f"listener-{each.server_port}", daemon=True)
        for each in listeners[1:]
    ]
    for thread in threads:
        thread.start()
    try:
        listeners[0].serve_forever()
    finally:
        for thread in threads:
            thread.join(timeout=60)


def shutdown_all(listeners: list[Listener]) -> None:
    """Stop every listener at once (blocks until each has stopped: call it off the serving thread)."""
    for each in listeners:
        each.server.should_exit = True
    for each in listeners:
        each.shutdown()


class HearthWorker(UvicornWorker):
    """gunicorn's worker for `hearth server --workers N`: one replica (its own engine, built after
    the fork by the application's load()) on uvicorn with the protocol and front above. Its
    graceful stop (SIGTERM, or HUP to the master) answers parked long-polls at once and gives
    requests in flight gunicorn's graceful_timeout (= shutdown_grace)."""

    CONFIG_KWARGS = {**UVICORN_OPTIONS, "lifespan": "on"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config.timeout_graceful_shutdown = self.cfg.graceful_timeout
