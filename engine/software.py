"""Software configs and deployments: derived configs, the server metadata document, signal rules.

Formats follow Heat (reference/heat-protocols.md §2.8, §2.10, §4) so that heat-agents hooks and
os-collect-config read Hearth's metadata unchanged.
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.store.models import Deployment, Server, SoftwareConfig

INPUT_TYPES = ("String", "Number", "CommaDelimitedList", "Json", "Boolean")
SIGNAL_TRANSPORTS = ("CFN_SIGNAL", "TEMP_URL_SIGNAL", "HEAT_SIGNAL", "ZAQAR_SIGNAL", "NO_SIGNAL")
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
                  transport: str, signal_url: str | None) -> list[tuple[str, str, Any]]:
    base = [
        ("deploy_server_id", "ID of the server being deployed to", server_id),
        ("deploy_action", "Name of the current action being deployed", action),
        ("deploy_stack_id", "ID of the stack this deployment belongs to",
         quote(f"{stack_name}/{stack_id}", safe="/")),
        ("deploy_resource_name", "Name of this deployment resource in the stack", resource_name),
        ("deploy_signal_transport", "How the server should signal to heat with the deployment output values.",
         transport),
    ]
    if transport != "NO_SIGNAL" and signal_url:
        base += [("deploy_signal_id", "ID of signal to use for signaling output values", signal_url),
                 ("deploy_signal_verb", "HTTP verb to use for signaling output values", "POST")]
    return base


def push_metadata(session: Session, server_id: str) -> tuple[int, dict] | None:
    """Rebuild the server's `deployments` list from its deployments and bump its version.

    Returns the new (version, document), to publish once committed; None when the server is
    unknown or deleted.
    """
    server = session.get(Server, server_id, with_for_update=True)
    if server is None or server.deleted_at is not None:
        return None
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
    server.metadata_version += 1
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
