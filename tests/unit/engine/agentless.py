"""What an agent would do, for engine tests that run without one: read a server's deployment
entries from its metadata and signal them the way the agent does."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from engine import software_formats
from engine.guest.service import GuestAuth
from engine.store.models import Server
from tests.support import wait_for


def status(service, stack_id):
    return service.stacks.show_stack("admin", stack_id, resolve_outputs=False)["stack_status"]


def resource(service, stack_id, name):
    return {r["resource_name"]: r for r in service.resources.list_resources("admin", stack_id)}[name]


def entries(service, stack_id, server="server"):
    """The deployment entries of the server resource `server` (none before it exists)."""
    server_id = resource(service, stack_id, server)["physical_resource_id"]
    if not server_id:
        return []
    with service.runtime.store.session() as session:
        row = session.get(Server, server_id)
        if row is None:
            return []
        doc = software_formats.open_document(service.runtime.keyring, row.metadata_doc or {})  # as served
        return list(doc.get("deployments") or [])


def values(entry):
    return {i["name"]: i.get("value") for i in entry["inputs"]}  # an input resolved to null has none


def entry_for(service, stack_id, action, server="server", exclude=()):
    """The first entry for `action` (not in `exclude`), once the server has it."""

    def find():
        return next(
            (
                e
                for e in entries(service, stack_id, server)
                if values(e)["deploy_action"] == action and e["id"] not in exclude
            ),
            None,
        )

    return wait_for(find, 30, message=f"a {action} entry in the server metadata")


def signal(service, entry, body):
    """Send the hook's JSON to deploy_signal_id with deploy_signal_verb, as heat-config-notify
    does; a HEAT_SIGNAL entry (no URL, as in Heat) signals with its deployment's credential."""
    inputs = values(entry)
    if "deploy_signal_id" not in inputs:
        return service.guest.signal_deployment(GuestAuth(bearer=inputs["deploy_password"]), entry["id"], body)
    query = parse_qs(urlparse(inputs["deploy_signal_id"]).query)
    auth = GuestAuth(method=inputs["deploy_signal_verb"], expires=query["expires"][0], signature=query["signature"][0])
    return service.guest.signal_deployment(auth, entry["id"], body)
