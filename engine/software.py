"""Software configs and deployments: derived configs, the server metadata document, signal rules.

Formats follow Heat (reference/heat-protocols.md §2.8, §2.10, §4) so that heat-agents hooks and
os-collect-config read Hearth's metadata unchanged.
"""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.store.models import Deployment, Server, SoftwareConfig

INPUT_TYPES = ("String", "Number", "CommaDelimitedList", "Json", "Boolean")
SIGNAL_TRANSPORTS = ("CFN_SIGNAL", "TEMP_URL_SIGNAL", "HEAT_SIGNAL", "ZAQAR_SIGNAL", "NO_SIGNAL")
# The verb heat-config-notify uses on deploy_signal_id: Heat's POST for CFN, PUT for a Swift
# temp URL; Hearth's route takes either, so HEAT/ZAQAR (which Heat gives no URL) use POST.
SIGNAL_VERBS = {"CFN_SIGNAL": "POST", "TEMP_URL_SIGNAL": "PUT", "HEAT_SIGNAL": "POST", "ZAQAR_SIGNAL": "POST"}
CREDENTIAL_TRANSPORTS = ("HEAT_SIGNAL", "ZAQAR_SIGNAL")
ACTIONS = ("CREATE", "UPDATE", "DELETE", "SUSPEND", "RESUME")
OUTPUT_KEYS = ("deploy_stdout", "deploy_stderr", "deploy_status_code")


def iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def clean_io(items: list[dict] | None) -> list[dict]:
    """Drop null keys and a false replace_on_change, as Heat does when it stores inputs/outputs."""
    cleaned = []
    for item in items or []:
        entry = {k: v for k, v in item.items() if v is not None}
        if entry.get("replace_on_change") is False:
            entry.pop("replace_on_change")
        cleaned.append(entry)
    return cleaned


def create_config(session: Session, *, name: str, group: str, config: Any, inputs, outputs,
                  options, project: str, now: dt.datetime, deployment_id: str | None = None,
                  config_id: str | None = None) -> SoftwareConfig:
    row = SoftwareConfig(id=config_id or str(uuid.uuid4()), name=name, group=group or "Heat::Ungrouped",
                         body={"config": config, "inputs": clean_io(inputs),
                               "outputs": clean_io(outputs), "options": options},
                         project=project, deployment_id=deployment_id, created_at=now)
    session.add(row)
    return row


def format_config(row: SoftwareConfig) -> dict:
    """The software config as the API and the server metadata show it."""
    return {"id": row.id, "name": row.name, "group": row.group,
            "creation_time": iso(row.created_at), "config": row.body.get("config"),
            "inputs": row.body.get("inputs") or [], "outputs": row.body.get("outputs") or [],
            "options": row.body.get("options")}


def derived_inputs(source: SoftwareConfig | None, input_values: dict, base: list[tuple[str, str, Any]]) -> list[dict]:
    """Declared inputs with values, then undeclared values, then the deploy_* inputs (Heat's order)."""
    declared = (source.body.get("inputs") or []) if source else []
    names = set()
    inputs = []
    for item in declared:
        entry = dict(item)
        entry.setdefault("type", "String")
        entry["value"] = input_values.get(item["name"], item.get("default"))
        names.add(item["name"])
        inputs.append(entry)
    for key, value in input_values.items():
        if key not in names:
            inputs.append({"name": key, "type": "String", "value": value})
    for name, description, value in base:
        inputs.append({"name": name, "description": description, "type": "String", "value": value})
    return inputs


def deploy_inputs(*, server_id: str, action: str, stack_name: str, stack_id: str, resource_name: str,
                  transport: str, signal_url: str | None,
                  principal: "SignalPrincipal | None" = None) -> list[tuple[str, str, Any]]:
    """The deploy_* inputs in Heat's order, then what Hearth adds for the transport.

    CFN_SIGNAL and TEMP_URL_SIGNAL carry the signal URL and verb, as in Heat. HEAT_SIGNAL and
    ZAQAR_SIGNAL carry Heat's credential inputs (from `principal`; ZAQAR_SIGNAL also the queue)
    and then, because Hearth serves no Keystone or Zaqar, the signal URL and verb too: an agent
    (heat-config-notify included) signals through `deploy_signal_id` whatever the transport.
    """
    base = [
        ("deploy_server_id", "ID of the server being deployed to", server_id),
        ("deploy_action", "Name of the current action being deployed", action),
        ("deploy_stack_id", "ID of the stack this deployment belongs to",
         quote(f"{stack_name}/{stack_id}", safe="/")),
        ("deploy_resource_name", "Name of this deployment resource in the stack", resource_name),
        ("deploy_signal_transport", "How the server should signal to heat with the deployment output values.",
         transport),
    ]
    if transport == "NO_SIGNAL" or not signal_url:
        return base
    signal = [("deploy_signal_id", "ID of signal to use for signaling output values", signal_url),
              ("deploy_signal_verb", "HTTP verb to use for signaling output values", SIGNAL_VERBS[transport])]
    if transport not in CREDENTIAL_TRANSPORTS:
        return base + signal
    if principal is None:
        raise ValueError(f"{transport} needs the deployment's signal principal")
    base += [
        ("deploy_auth_url", "URL for API authentication", principal.auth_url),
        ("deploy_username", "Username for API authentication", principal.username),
        ("deploy_user_id", "User ID for API authentication", principal.user_id),
        ("deploy_password", "Password for API authentication", principal.password),
        ("deploy_project_id", "ID of project for API authentication", principal.project_id),
    ]
    if transport == "ZAQAR_SIGNAL":
        base.append(("deploy_queue_id", "ID of queue to use for signaling output values", principal.queue_id))
    return base + signal


@dataclass(frozen=True)
class SignalPrincipal:
    """What HEAT_SIGNAL and ZAQAR_SIGNAL hand the guest in place of a Keystone stack user.

    `password` is a guest credential for this one deployment (a bearer secret, stored hashed);
    `auth_url` is the guest API root it is presented to; `user_id` is the credential's id.
    """

    auth_url: str
    username: str
    user_id: str
    password: str
    project_id: str
    queue_id: str


def signal_path(entry_id: str) -> str:
    """The guest route a derived config's signal goes to (native and pre-signed alike)."""
    return f"/guest/v1/deployments/{entry_id}/signal"


def component_actions(config: Any) -> set[str]:
    """The actions a `component` config has an entry for (Heat triggers on these alone)."""
    configs = config.get("configs") if isinstance(config, dict) else None
    actions: set[str] = set()
    for entry in configs or []:
        if isinstance(entry, dict):
            actions.update(entry.get("actions") or [])
    return actions


class MissingInput(LookupError):
    """A structured config asks for an input that has no value (input_values_validate: STRICT)."""


def substitute_inputs(snippet: Any, values: dict[str, Any], input_key: str = "get_input",
                      strict: bool = False) -> Any:
    """Heat's structured-config substitution: every map whose only key is `input_key` with a
    string argument becomes that input's value (null if it has none, MissingInput when
    `strict`); other maps and lists are walked; scalars pass through."""
    if isinstance(snippet, dict):
        if len(snippet) == 1:
            key, name = next(iter(snippet.items()))
            if key == input_key and isinstance(name, str):
                if strict and name not in values:
                    raise MissingInput(name)
                return values.get(name)
        return {k: substitute_inputs(v, values, input_key, strict) for k, v in snippet.items()}
    if isinstance(snippet, list):
        return [substitute_inputs(v, values, input_key, strict) for v in snippet]
    return snippet


def push_metadata(session: Session, server_id: str) -> tuple[int, dict] | None:
    """Rebuild the server's `deployments` list from its deployments and bump its version.

    Returns the new (version, document), to publish once committed; None when the server is
    unknown or deleted.
    """
    # Bump first, in the database: the UPDATE takes the row's write lock (the whole file's on
    # SQLite), so concurrent pushes for one server are serialised and each reads the others'
    # work. A Server object loaded earlier in this session may be stale: reload it after.
    bumped = session.execute(update(Server).where(Server.id == server_id, Server.deleted_at.is_(None))
                             .values(metadata_version=Server.metadata_version + 1))
    if bumped.rowcount == 0:
        return None
    server = session.get(Server, server_id, populate_existing=True)
    rows = session.execute(
        select(Deployment, SoftwareConfig)
        .join(SoftwareConfig, SoftwareConfig.id == Deployment.config_id)
        .where(Deployment.server_id == server_id)
        .order_by(Deployment.created_at, Deployment.id)).all()
    entries = [format_config(config) for _, config in rows]
    entries.sort(key=lambda e: e["name"] or "")  # stable: equal names keep creation order
    doc = dict(server.metadata_doc or {})
    doc["deployments"] = entries
    server.metadata_doc = doc
    return server.metadata_version, doc


def evaluate_signal(config: SoftwareConfig, details: Any) -> tuple[str, str, dict]:
    """Heat's signal rules: (status, reason, output_values) for a deployment signal body."""
    details = details if isinstance(details, dict) else {}
    failed = []
    code = details.get("deploy_status_code")
    if code and str(code) != "0":
        failed.append(f"deploy_status_code : Deployment exited with non-zero status code: {code}")
    outputs: dict[str, Any] = {}
    for output in (config.body.get("outputs") or []) if config else []:
        name = output.get("name")
        if name in details:
            outputs[name] = details[name]
            if output.get("error_output"):
                failed.append(f"{name} : {details[name]}")
    for key in OUTPUT_KEYS:
        outputs[key] = details.get(key)
    if failed:
        stderr = (details.get("deploy_stderr") or "").strip()
        if stderr:
            # Heat leaves stderr out of the reason; an operator reading `stack show` wants it.
            failed.append("deploy_stderr : " + stderr[-2000:])
        return "FAILED", ", ".join(failed), outputs
    return "COMPLETE", "Outputs received", outputs
