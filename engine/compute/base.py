"""The compute driver contract, declared only (ServerSpec and ComputeDriver's verbs): what a server
is on this installation; no I/O and no store here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class ServerSpec:
    """What a driver needs to bring a server up; `bootstrap` is the guest's one JSON document.
    `user_data` is the boot user data packaged for `user_data_format` (engine.guest.userdata): drivers
    of real clouds pass it to the guest; the local driver only keeps a copy to inspect."""

    server_id: str
    name: str
    bootstrap: dict[str, Any]
    properties: dict[str, Any]
    user_data: bytes = b""


class ComputeDriver:
    """Drivers create and delete servers; `waits_for_contact` makes Server creation wait for the
    agent's first metadata request (the guest is really up) instead of completing at once."""

    name = ""
    waits_for_contact = False

    def create(self, spec: ServerSpec) -> dict[str, Any]:
        """Start the server; return driver data to keep (it must let delete() find the server)."""
        raise NotImplementedError

    def delete(self, server_id: str, driver_data: dict[str, Any]) -> None:
        raise NotImplementedError

    def resume(self, server_id: str, driver_data: dict[str, Any]) -> dict[str, Any] | None:
        """Called at engine start for each live server: bring it back if it is down."""
        return None

    def agent_status(self, server_id: str) -> dict[str, Any] | None:
        """What the driver knows of the server's agent process (a driver that runs it: state,
        pid, restarts, last exit); None when the agent is not the driver's to run."""
        return None

    def start(self) -> None:
        """The engine starts (after resuming the servers it knows)."""

    def shutdown(self) -> None:
        """The server process is stopping."""
