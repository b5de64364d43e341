"""A real `hearth server` for a benchmark, and the `hearth` command line against it: SQLite in a
temporary folder, the local compute driver (every server a real agent process)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from machine import free_port

BIN = Path(sys.executable).parent


def hearth(env: dict[str, str], *args: str) -> str:
    """`hearth ARGS` against the benchmark's server; its stdout (a failure ends the benchmark)."""
    done = subprocess.run([str(BIN / "hearth"), *args], env=env, text=True, capture_output=True)
    if done.returncode != 0:
        raise SystemExit(f"bench: hearth {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return done.stdout


def until(condition: Callable[[], Any], seconds: float, what: str, every: float = 0.1) -> Any:
    """The first true value `condition` gives, polled every `every` s for at most `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise SystemExit(f"bench: timed out after {seconds:g} s waiting for {what}")


@contextlib.contextmanager
def local_server(prefix: str, settings: dict[str, str] | None = None) -> Iterator[tuple[dict[str, str], str, str]]:
    """(env for `hearth`, data folder, database URL) of a server running until the block ends;
    `settings` are HEARTH_* variables for it."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        port = free_port()
        db = f"sqlite:///{tmp}/hearth.db"
        env = {**os.environ, "HEARTH_URL": f"http://127.0.0.1:{port}", "HEARTH_DATA_DIR": tmp, **(settings or {})}
        command = [str(BIN / "hearth"), "server", "--db", db, "--data-dir", tmp, "--port", str(port),
                   "--compute", "local", "--log-level", "WARNING"]  # fmt: skip
        server = subprocess.Popen(command, env=env)
        try:
            until(
                lambda: (
                    subprocess.run([str(BIN / "hearth"), "stack", "list"], env=env, capture_output=True).returncode == 0
                ),
                60,
                "the server",
            )
            yield env, tmp, db
        finally:
            server.terminate()
            server.wait(timeout=60)
