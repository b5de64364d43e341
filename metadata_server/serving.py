"""The embedded HTTP listener: werkzeug's threaded server, with a backlog sized for many agents."""
from __future__ import annotations

import re

from flask import Flask
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

_SIGNATURE = re.compile(r"((?:^|[?&])(?:signature|Signature)=)[^&\s]+")


class RedactingHandler(WSGIRequestHandler):
    """Access log lines without the signatures of pre-signed URLs: a log reader must not be
    able to replay a signal."""

    def log_request(self, code="-", size="-") -> None:
        path, line = self.path, self.requestline
        self.path = _SIGNATURE.sub(r"\1<redacted>", path)
        self.requestline = _SIGNATURE.sub(r"\1<redacted>", line)
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
