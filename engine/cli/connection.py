"""What the global options of `hearth` give a command: owns the Transport made on first use (unless
one is injected) and the HearthClient over it; does no I/O until a command calls it.

The server to speak to, and the HTTP client made for it on first use (`Connection`); what a
caller may inject (`ClientOptions`).
"""

from __future__ import annotations

from dataclasses import dataclass

import click

from engine.cli.client import HearthClient, discover_token
from engine.cli.transport import Transport
from engine.cli.waiting import MIN_ROUND, EventFeed


@dataclass
class ClientOptions:
    """What a caller may inject through click's `obj`: the HTTP transport and the poll pacing.

    An injected transport belongs to the caller, who closes it; otherwise the command makes
    one and closes it when the command ends.
    """

    transport: Transport | None = None
    min_round: float = MIN_ROUND


class Connection:
    """The global options, and the client built from them on first use."""

    def __init__(
        self, ctx: click.Context, url: str, project: str, token: str | None, timeout: float, options: ClientOptions
    ):
        self.ctx = ctx
        self.url = url
        self.project = project
        self.token = token
        self.timeout = timeout
        self.options = options
        self._client: HearthClient | None = None

    @property
    def client(self) -> HearthClient:
        if self._client is None:
            transport = self.options.transport
            if transport is None:
                transport = Transport()
                self.ctx.call_on_close(transport.close)
            self._client = HearthClient(
                self.url,
                self.project,
                transport=transport,
                token=self.token or discover_token(self.url),
                timeout=self.timeout,
            )
        return self._client

    def feed(self, stack: dict) -> EventFeed:
        return EventFeed(self.client, stack, min_round=self.options.min_round)
