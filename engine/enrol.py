"""Enrolment of pre-provisioned machines: a new server credential and the bootstrap document
that carries it, for a server made by the `deployed` compute driver.

Such a server (OS::Heat::DeployedServer, or OS::Nova::Server under `--compute deployed`) has no
agent that Hearth started and no credential of its own; `hearth server bootstrap` asks for one
here and hands the machine the document. Each call issues another credential: the ones issued
before stay valid (an agent already enrolled keeps working) unless `revoke_previous` is set.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from engine import credentials, views
from engine.errors import Conflict, NotFound
from engine.runtime import Runtime
from engine.store.models import Resource, Server

ENROLLABLE_DRIVER = "deployed"


def issue_bootstrap(runtime: Runtime, project: str, server_id: str, *,
                    revoke_previous: bool = False) -> dict:
    """A bootstrap document with a new server-scoped credential, and what the caller should
    know about it (expiry, which server, whether earlier credentials were revoked)."""
    now = runtime.now()
    with runtime.store.session() as session:
        server = _enrollable(session, project, server_id)
        if revoke_previous:
            # Only this server's credentials: its subject id is the server id.
            credentials.revoke_subject(session, server_id, now)
        ttl = runtime.config.credential_ttl
        secret = credentials.issue(session, kind="server", subject_id=server_id,
                                   stack_id=server.stack_id, now=now, ttl_seconds=ttl)
        document = bootstrap_document(runtime.public_url, server, secret)
        summary = {"id": server.id, "name": server.name, "stack_id": server.stack_id,
                   "resource_name": server.resource_name}
    return {"bootstrap": document, "server": summary, "revoked_previous": revoke_previous,
            "expires_at": views.iso(now + dt.timedelta(seconds=ttl))}


def bootstrap_document(public_url: str, server: Server, secret: str) -> dict:
    """The agent's bootstrap document (docs/guest-api.md); the metadata URL is the one the
    server's own metadata names, so the agent and the engine agree on it."""
    occ = (server.metadata_doc or {}).get("os-collect-config") or {}
    metadata_url = (occ.get("hearth") or {}).get("metadata_url") or (
        f"{public_url}/guest/v1/servers/{server.id}/metadata")
    return {"server_id": server.id, "base_url": public_url, "metadata_url": metadata_url,
            "credential": secret, "collectors": ["hearth"]}


def _enrollable(session, project: str, server_id: str) -> Server:
    server = session.get(Server, server_id)
    if server is None or server.project != project:
        raise NotFound(f"server '{server_id}' not found in project '{project}': pass the server's "
                       "id (the resource's physical_resource_id), or its resource name with --stack")
    if server.deleted_at is not None:
        raise NotFound(f"server '{server_id}' ({server.name}) was deleted; a deleted server "
                       "cannot be enrolled: enrol the server that replaced it, if any")
    if server.driver != ENROLLABLE_DRIVER:
        kind = _resource_type(session, server) or "this server"
        raise Conflict(f"server '{server_id}' ({server.name}) is an {kind} made by the "
                       f"'{server.driver}' compute driver, which enrols its agent itself; only "
                       "OS::Heat::DeployedServer (or servers of the 'deployed' compute driver) "
                       "are enrolled with a bootstrap document")
    return server


def _resource_type(session, server: Server) -> str | None:
    if not server.stack_id or not server.resource_name:
        return None
    return session.scalar(select(Resource.type).where(Resource.stack_id == server.stack_id,
                                                      Resource.name == server.resource_name))

