"""What a metadata transport's section() is given and returns (see
engine/guest/transports/__init__.py); pure data, no I/O."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from engine.guest.credentials import NewCredential


@dataclass(frozen=True)
class ServerPlace:
    """What a transport's section is built for: a server and the stack resource that made it."""

    runtime: Any  # engine.runtime.Runtime
    server_id: str
    stack_id: str | None
    stack_name: str
    resource_name: str
    project: str
    now: dt.datetime
    # POLL_TEMP_URL: the latest collect-URL expiry the server ever had (a new URL expires later).
    floor: int = 0


@dataclass(frozen=True)
class Built:
    """A transport's subsection and the credential rows to add with it."""

    section: dict
    credentials: tuple[NewCredential, ...] = field(default=())
