"""A Hearth server on 127.0.0.1 for the differential cases, as an `Endpoint`."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path

from tests.differential.harness import Endpoint
from tests.support import ADMIN_TOKEN, AUTH, start_server, stop_server


@contextlib.contextmanager
def running_hearth(settle_timeout: float = 120.0):
    os.environ.setdefault("HEARTH_ADMIN_TOKEN", ADMIN_TOKEN)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="hearth-differential-") as tmp:
        # Cases send many requests at once; the request budget is not what they test.
        server = start_server(Path(tmp), api_rate=0)
        try:
            yield Endpoint(server.api, dict(AUTH), settle_timeout=settle_timeout, poll=0.02)
        finally:
            stop_server(server)
