"""The metadata transports (`software_config_transport`) as a registry, name -> module; the registry
touches nothing, each module says what it touches.

A transport module declares:
- `OWNS`: the `os-collect-config` subsection it fills (one of SECTIONS);
- `section(server: ServerPlace, current: dict) -> Built` (contract.py): that subsection for the server, and
  the credential rows it hands out. It returns data: the caller (Server.create, Server.update)
  adds the rows with credentials.add_issued in the unit of work that stores the document, so a
  section and its credential are stored together or not at all. A live credential already in
  `current` is kept (the guest has it configured), and then no row is returned;
- whatever its route needs to authenticate and answer (metadata_server/guest/ calls it through
  GuestService).

A name not in TRANSPORTS would be accepted by the schema but not served: the server would keep
only Hearth's own `hearth` collector. Every name the property accepts is served today.

Hearth's own long-poll (`hearth`, native_section) is not one of them: every server has it beside
whichever transport it chose, no credential rides in it (the agent's is in its bootstrap
document), and no property selects it.
"""

from __future__ import annotations

from engine.guest import urls
from engine.guest.transports import cfn, heat, temp_url, zaqar
from engine.guest.transports.contract import Built, ServerPlace

__all__ = ["SECTIONS", "TRANSPORTS", "Built", "ServerPlace", "native_section"]

# The os-collect-config subsections a transport may own (Heat's): Heat nulls the keys of those
# the chosen transport does not own, so a stale boot-time transport is dropped.
SECTIONS = ("cfn", "heat", "zaqar", "request")

TRANSPORTS = {"POLL_SERVER_CFN": cfn, "POLL_SERVER_HEAT": heat, "POLL_TEMP_URL": temp_url, "ZAQAR_MESSAGE": zaqar}


def native_section(base_url: str, server_id: str) -> dict:
    """The `os-collect-config` section every server starts with: Hearth's own collector."""
    return {"collectors": ["hearth"], "hearth": {"metadata_url": urls.metadata_url(base_url, server_id)}}
