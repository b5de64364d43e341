"""The embedded HTTP listener: werkzeug's threaded server, with a backlog sized for many agents."""
from __future__ import annotations

from flask import Flask
from werkzeug.serving import ThreadedWSGIServer


class Listener(ThreadedWSGIServer):
    # After a restart every agent reconnects at once: werkzeug's default backlog of 128 made
    # thousands of them wait for SYN retransmits (bench/README.md).
    request_queue_size = 4096
    daemon_threads = True


def listen(host: str, port: int, app: Flask) -> Listener:
    """Bind now (port 0 picks a free port: see `server_port`); serve with `serve_forever()`."""
    return Listener(host, port, app)
