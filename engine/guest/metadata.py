"""A server's metadata document as the guest reads it: touches the store (servers, deployments,
software configs) in the caller's session only; nothing of the server app.

A server's metadata document as the guest reads it: its `deployments` list rebuilt, its version
bumped, its sealed values opened for publishing.

The formats of configs and derived configs stay in engine/software_formats.py, which the software API
and the deployment resources share; this module owns only what is written into, and read
out of, the server's document.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.guest import traces
from engine.secrets import open_document
from engine.software_formats import format_config
from engine.store.crypto import Keyring
from engine.store.models import Deployment, Server, SoftwareConfig


def target_server(session: Session, server_id: str, project: str) -> Server | None:
    """The live server a deployment of `project` to `server_id` reaches; None when there is none
    yet (an id Hearth does not know, or a server deleted), or it belongs to another project.

    As in Heat, a deployment may name any server id: its entry is kept under that id, in its
    project, until a server of that project has the id (OS::Nova::Server, DeployedServer, or a
    machine enrolled under the id) and receives it. A server never receives another project's
    deployments, so naming someone else's server id reaches nothing."""
    server = session.get(Server, server_id)
    if server is None or server.deleted_at is not None or server.project != project:
        return None
    return server


def push_metadata(
    session: Session, server_id: str, keyring: Keyring | None = None, project: str | None = None
) -> tuple[int, dict] | None:
    """Rebuild the server's `deployments` list from its deployments and bump its version.

    Returns the new (version, document), to publish once committed, with its secrets opened
    by `keyring` (the agent needs them); the stored document keeps them sealed, and the guest
    API opens what it reads from the store (open_document). None when the server is unknown,
    deleted, or (with `project`, the pushing deployment's) in another project: nothing to push.
    """
    # Bump first, in the database: the UPDATE takes the row's write lock (the whole file's on
    # SQLite), so concurrent pushes for one server are serialised and each reads the others'
    # work. A Server object loaded earlier in this session may be stale: reload it after.
    live = [Server.id == server_id, Server.deleted_at.is_(None)]
    if project is not None:
        live.append(Server.project == project)
    bumped = session.execute(update(Server).where(*live).values(metadata_version=Server.metadata_version + 1))
    if bumped.rowcount == 0:
        return None
    server = session.get(Server, server_id, populate_existing=True)
    doc = dict(server.metadata_doc or {})
    entries = deployment_entries(session, server_id, server.project)
    # Each entry says which operation wrote it (engine/guest/traces.py); the software
    # deployments API's metadata listing, Heat's, shows the entries without it.
    operations = traces.entry_operations(session, [entry["id"] for entry in entries])
    for entry in entries:
        if entry["id"] in operations:
            entry[traces.ENTRY_KEY] = operations[entry["id"]]
    doc["deployments"] = entries
    published = open_document(keyring, doc) if keyring is not None else doc
    server.metadata_doc = doc
    return server.metadata_version, published


def deployment_entries(session: Session, server_id: str, project: str) -> list[dict]:
    """The `deployments` list for `server_id` in `project`, sealed values still sealed: each
    deployment's current derived config, by name (equal names keep creation order), as Heat's
    metadata_software_deployments orders them. Whether a server has the id does not matter."""
    rows = session.scalars(
        select(SoftwareConfig)
        .join(Deployment, SoftwareConfig.id == Deployment.config_id)
        .where(Deployment.server_id == server_id, Deployment.project == project)
        .order_by(Deployment.created_at, Deployment.id)
    ).all()
    entries = [format_config(config) for config in rows]
    entries.sort(key=lambda e: e["name"] or "")
    return entries
