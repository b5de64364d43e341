"""Enrolment of pre-provisioned machines, and the agent's bootstrap document; touches the store
(servers, credentials) and nothing of the server app.

A server made by the `deployed` compute driver gets a new server credential and the bootstrap
document that carries it here.

Such a server (OS::Heat::DeployedServer, or OS::Nova::Server under `--compute deployed`) has no
agent that Hearth started and no credential of its own; `hearth server bootstrap` asks for one
here and hands the machine the document. Each call issues another credential: the ones issued
before stay valid (an agent already enrolled keeps working) unless `revoke_previous` is set.

A machine may also be enrolled under an id of its own choosing (`new`), outside any stack: the
id a deployment's `server` names when no server has it yet (Heat lets a deployment name any
server id). The machine becomes a server of the project under that id and its metadata holds
the project's deployments to the id, those made before it was enrolled included; its
credential reaches that metadata and those deployments only.
"""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select

from engine.errors import Conflict, InvalidRequest, NotFound
from engine.guest import credentials, metadata, transports, urls
from engine.runtime import Runtime, iso
from engine.store.models import Resource, Server

ENROLLABLE_DRIVER = "deployed"
# An id a machine may be enrolled under: what a deployment's `server` may hold (36 characters at
# most) and what is safe in a URL path, a file name and a shell word.
NEW_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,35}$")


def issue_bootstrap(
    runtime: Runtime, project: str, server_id: str, *, revoke_previous: bool = False, new: bool = False
) -> dict:
    """A bootstrap document with a new server-scoped credential, and what the caller should
    know about it (expiry, which server, whether earlier credentials were revoked). With `new`,
    an id no server has becomes a server of the project first (see the module's docstring)."""
    now = runtime.now()
    with runtime.store.session() as session:
        existing = session.get(Server, server_id) if new else None
        if new and existing is None:
            server = _enrol_new(runtime, session, project, server_id, now)
        elif new and existing.project != project:
            # Server ids are one namespace: say it is taken, not whose it is.
            raise Conflict(f"the server id '{server_id}' is taken: enrol the machine under another id")
        else:
            server = _enrollable(session, project, server_id)
        if revoke_previous:
            # Only this server's credentials: its subject id is the server id.
            credentials.revoke_subject(session, server_id, now)
        ttl = runtime.config.credential_ttl
        secret = credentials.issue(
            session, kind="server", subject_id=server_id, stack_id=server.stack_id, now=now, ttl_seconds=ttl
        )
        document = bootstrap_document(
            runtime.public_url, server.id, secret, _named_metadata_url(server), guest_urls=runtime.config.guest_urls
        )
        summary = {
            "id": server.id,
            "name": server.name,
            "stack_id": server.stack_id,
            "resource_name": server.resource_name,
        }
    return {
        "bootstrap": document,
        "server": summary,
        "revoked_previous": revoke_previous,
        "expires_at": iso(now + dt.timedelta(seconds=ttl)),
    }


def bootstrap_document(
    base_url: str, server_id: str, secret: str | None, metadata_url: str | None = None, *, guest_urls: str = ""
) -> dict:
    """The agent's bootstrap document (docs/guest-api.md), for a server the engine starts
    (Server.create hands it to the compute driver) and for an enrolled machine alike.

    `base_urls` lists `base_url` and then the other replicas' guest APIs (the `guest_urls`
    setting): the agent fails over among them. `base_url` stays for agents that read only it.
    `metadata_url` is under `base_url`; the agent moves it onto whichever base it uses."""
    return {
        "server_id": server_id,
        "base_url": base_url,
        "base_urls": urls.guest_bases(base_url, guest_urls),
        "metadata_url": metadata_url or urls.metadata_url(base_url, server_id),
        "credential": secret,
        "collectors": ["hearth"],
    }


def _named_metadata_url(server: Server) -> str | None:
    """The metadata URL the server's own metadata names, so the agent and the engine agree on it."""
    occ = (server.metadata_doc or {}).get("os-collect-config") or {}
    return (occ.get("hearth") or {}).get("metadata_url")


def _enrol_new(runtime: Runtime, session, project: str, server_id: str, now: dt.datetime) -> Server:
    """A server of the project under `server_id`, outside any stack, whose metadata already
    holds the project's deployments to that id."""
    if not NEW_ID.match(server_id):
        raise InvalidRequest(
            f"'{server_id}' cannot be a server id: use 1 to 36 letters, digits, '.', "
            "'_' or '-', starting with a letter or digit"
        )
    doc = {
        "deployments": metadata.deployment_entries(session, server_id, project),
        "os-collect-config": transports.native_section(runtime.public_url, server_id),
    }
    server = Server(
        id=server_id,
        name=server_id,
        stack_id=None,
        resource_name=None,
        project=project,
        driver=ENROLLABLE_DRIVER,
        status="ACTIVE",
        metadata_doc=doc,
        created_at=now,
    )
    session.add(server)
    session.flush()
    return server


def _enrollable(session, project: str, server_id: str) -> Server:
    server = session.get(Server, server_id)
    if server is None or server.project != project:
        raise NotFound(
            f"server '{server_id}' not found in project '{project}': pass the server's "
            "id (the resource's physical_resource_id), or its resource name with --stack; "
            "to enrol a machine under an id no server has yet (one that deployments "
            "name), ask for a new server (`hearth server bootstrap ID --new`)"
        )
    if server.deleted_at is not None:
        raise NotFound(
            f"server '{server_id}' ({server.name}) was deleted; a deleted server "
            "cannot be enrolled: enrol the server that replaced it, if any"
        )
    if server.driver != ENROLLABLE_DRIVER:
        kind = _resource_type(session, server) or "this server"
        raise Conflict(
            f"server '{server_id}' ({server.name}) is an {kind} made by the "
            f"'{server.driver}' compute driver, which enrols its agent itself; only "
            "OS::Heat::DeployedServer (or servers of the 'deployed' compute driver) "
            "are enrolled with a bootstrap document"
        )
    return server


def _resource_type(session, server: Server) -> str | None:
    if not server.stack_id or not server.resource_name:
        return None
    return session.scalar(
        select(Resource.type).where(Resource.stack_id == server.stack_id, Resource.name == server.resource_name)
    )
