"""The embedded HTTP listeners: werkzeug's threaded server, with a backlog sized for many agents;
the main one and, when configured, a second one that serves only the guest API."""
from __future__ import annotations

import threading

from flask import Flask
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from engine.secrets import redact_url_signatures



class RedactingHandler(WSGIRequestHandler):
    """Access log lines without the signatures of pre-signed URLs: a log reader must not be
    able to replay a signal."""

    def log_request(self, code="-", size="-") -> None:
        path, line = self.path, self.requestline
        self.path = redact_url_signatures(path)
        self.requestline = redact_url_signatures(line)
        try:
            super().log_request(code, size)
        finally:
            self.path, self.requestline = path, line


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
    threads = [threading.Thread(target=each.serve_forever, name=f"listener-{each.server_port}", daemon=True)
               for each in listeners[1:]]
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
