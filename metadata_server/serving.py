"""The embedded HTTP listeners: owns their sockets and threads (werkzeug's threaded server); touches
the engine only through the apps it serves.

The embedded HTTP listeners: werkzeug's threaded server, with a backlog sized for many agents; the
main one and, when configured, a second one that serves only the guest API.
"""

from __future__ import annotations

import json
import threading

from flask import Flask
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from engine.service import redact_url_signatures
from metadata_server.errors import envelope_body, http_error


class RedactingHandler(WSGIRequestHandler):
    """Access log lines without the signatures of pre-signed URLs: a log reader must not be
    able to replay a signal. The HTTP layer's own refusals, made before the app sees the
    request, are answered in the app's JSON error envelope."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's refusals (431 header fields too large, 414 request line too long, 400
        bad request line, 505) as JSON instead of its HTML page; the request line it may
        quote is redacted, in the log and the answer alike."""
        detail = redact_url_signatures(message) if message else None
        if self.request_version == "HTTP/0.9":  # the line was not understood: answer with a status
            self.request_version = "HTTP/1.0"  # line and headers, which any client reads
        self.log_error("code %d, message %s", code, detail or "")
        error_code, kind, text = http_error(code, detail)
        body = json.dumps(envelope_body(code, error_code, kind, text)).encode()
        self.send_response(code)
        self.send_header("Connection", "close")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_request(self, code="-", size="-") -> None:
        line = self.requestline
        self.requestline = redact_url_signatures(line)
        path = getattr(self, "path", None)  # not set when the request line was refused
        if path is not None:
            self.path = redact_url_signatures(path)
        try:
            super().log_request(code, size)
        finally:
            self.requestline = line
            if path is not None:
                self.path = path


class Listener(ThreadedWSGIServer):
    # After a restart every agent reconnects at once: werkzeug's default backlog of 128 made
    # thousands of them wait for SYN retransmits (bench/README.md).
    request_queue_size = 4096
    daemon_threads = True


def listen(host: str, port: int, app: Flask) -> Listener:
    """Bind now (port 0 picks a free port: see `server_port`); serve with `serve_forever()`."""
    return Listener(host, port, app, handler=RedactingHandler)


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
            thread.join(timeout=30)


def shutdown_all(listeners: list[Listener]) -> None:
    """Stop every listener's loop (blocks until each has stopped: call it off the serving thread)."""
    for each in listeners:
        each.shutdown()
