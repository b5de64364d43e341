"""systemd's notify protocol without a dependency: touches only datagrams to ``$NOTIFY_SOCKET``
(READY, STATUS, RELOADING, STOPPING, WATCHDOG); no files, no other network.

Without ``NOTIFY_SOCKET`` (not under systemd, or not ``Type=notify``) every call does nothing.
A name starting with ``@`` is an abstract socket. A failed send is logged at DEBUG only:
systemd going away must never stop the agent.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Mapping

LOG = logging.getLogger("hearth.agent.sdnotify")


class Notifier:
    def __init__(self, address: str | None, watchdog_usec: int | None = None):
        self.address = address
        self.watchdog_usec = watchdog_usec

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Notifier:
        """Read NOTIFY_SOCKET, and WATCHDOG_USEC when WATCHDOG_PID is unset or names us."""
        address = environ.get("NOTIFY_SOCKET") or None
        watchdog = None
        pid = environ.get("WATCHDOG_PID")
        if pid in (None, "", str(os.getpid())):
            try:
                watchdog = int(environ.get("WATCHDOG_USEC", "")) or None
            except ValueError:
                watchdog = None
        return cls(address, watchdog)

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def send(self, *fields: str) -> bool:
        """One datagram of ``KEY=value`` lines; False when not sent."""
        if not self.address:
            return False
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto("\n".join(fields).encode("utf-8"), target)
        except OSError as exc:
            LOG.debug("cannot notify systemd at %s: %s", self.address, exc)
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.send("READY=1", *([status_field(status)] if status else []))

    def status(self, text: str) -> bool:
        return self.send(status_field(text))

    def reloading(self) -> bool:
        # Type=notify-reload (systemd 253+) wants the monotonic time with RELOADING=1.
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.send("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def stopping(self) -> bool:
        return self.send("STOPPING=1")

    def watchdog_interval(self) -> float | None:
        """Seconds between WATCHDOG=1 pings: half of what systemd allows (sd_watchdog_enabled(3))."""
        if not self.address or not self.watchdog_usec:
            return None
        return self.watchdog_usec / 2 / 1_000_000

    def start_watchdog(self, stop: threading.Event) -> threading.Thread | None:
        """Ping WATCHDOG=1 from a daemon thread until ``stop``; None when systemd did not ask."""
        interval = self.watchdog_interval()
        if interval is None:
            return None

        def ping() -> None:
            while not stop.wait(interval):
                self.send("WATCHDOG=1")

        self.send("WATCHDOG=1")
        thread = threading.Thread(target=ping, name="hearth-watchdog", daemon=True)
        thread.start()
        return thread


def status_field(text: str) -> str:
    """STATUS= takes one line."""
    return "STATUS=" + " ".join(str(text).split())
