"""Software configs and deployments as Heat formats them (configs, derived configs, deploy_*
inputs); pure, but `create_config` adds a config row in the caller's session.

The server's metadata document and the signal rules are the guest's (engine/guest/metadata.py,
engine/guest/signals.py).

Formats follow Heat (docs/guest-api.md shows them) so that heat-agents hooks and
os-collect-config read Hearth's metadata unchanged.
"""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from sqlalchemy.orm import Session

from engine import secrets
from engine.runtime import iso
from engine.secrets import (  # noqa: F401 - the names callers know software by
    SEALED_SECTION_KEYS,
    SECRET_INPUTS,
    open_document,
    open_entry,
    open_inputs,
    open_section,
    redact,
    seal_inputs,
    seal_section,
    secret_input_names,
    secret_texts,
)
from engine.store.crypto import Keyring
from engine.store.models import SoftwareConfig

INPUT_TYPES = ("String", "Number", "CommaDelimitedList", "Json", "Boolean")
SIGNAL_TRANSPORTS = ("CFN_SIGNAL", "TEMP_URL_SIGNAL", "HEAT_SIGNAL", "NO_SIGNAL", "ZAQAR_SIGNAL")
# The verb heat-config-notify uses on deploy_signal_id: Heat's POST for CFN, PUT for a Swift
# temp URL; Hearth's route takes either, so HEAT/ZAQAR (which Heat gives no URL) use POST.
SIGNAL_VERBS = {"CFN_SIGNAL": "POST", "TEMP_URL_SIGNAL": "PUT", "HEAT_SIGNAL": "POST", "ZAQAR_SIGNAL": "POST"}
CREDENTIAL_TRANSPORTS = ("HEAT_SIGNAL", "ZAQAR_SIGNAL")
ACTIONS = ("CREATE", "UPDATE", "DELETE", "SUSPEND", "RESUME")
OUTPUT_KEYS = ("deploy_stdout", "deploy_stderr", "deploy_status_code")
# The longest server id a deployment may name: Heat's store column (String(36)) and Hearth's.
SERVER_ID_MAX = 36


def clean_io(items: list[dict] | None, defaults: dict | None = None) -> list[dict]:
    """Inputs or outputs as Heat stores them (swc_io's as_dict): null keys dropped, a false
    replace_on_change dropped, and `defaults` (each key's default) filled in."""
    cleaned = []
    for item in items or []:
        entry = {**(defaults or {}), **{k: v for k, v in item.items() if v is not None}}
        if entry.get("replace_on_change") is False:
            entry.pop("replace_on_change")
        cleaned.append(entry)
    return cleaned


# What Heat fills into a config's inputs and outputs (software_config_io's schemas), and what
# a template's OS::Heat::SoftwareConfig adds: its nested properties resolve an unset
# description to "" and an unset default to the empty value of the input's type (recorded
# from Heat 27.0.1: String "", Number 0, Json {}, CommaDelimitedList [], Boolean false).
INPUT_DEFAULTS = {"type": "String"}
OUTPUT_DEFAULTS = {"type": "String", "error_output": False}
TEMPLATE_OUTPUT_DEFAULTS = {**OUTPUT_DEFAULTS, "description": ""}
EMPTY_DEFAULTS = {"String": "", "Number": 0, "Json": {}, "CommaDelimitedList": [], "Boolean": False}


def template_inputs(items: list[dict] | None) -> list[dict]:
    """A template config's inputs as Heat stores them (see EMPTY_DEFAULTS)."""
    completed = []
    for item in clean_io(items, {**INPUT_DEFAULTS, "description": ""}):
        if "default" not in item:
            item["default"] = copy.deepcopy(EMPTY_DEFAULTS.get(item["type"], ""))
        completed.append(item)
    return completed


def create_config(
    session: Session,
    *,
    name: str,
    group: str,
    config: Any,
    inputs,
    outputs,
    options,
    project: str,
    now: dt.datetime,
    deployment_id: str | None = None,
    config_id: str | None = None,
    keyring: Keyring | None = None,
    secret: frozenset[str] | set[str] = frozenset(),
    template: bool = False,
    derived: bool = False,
) -> SoftwareConfig:
    """Store a config, its inputs and outputs completed as Heat completes them (`template`: as
    a template's config resource does). With a keyring, the values of the `secret` inputs and of
    inputs declared `hidden: true` (value and default) are stored encrypted, and so is the config
    itself when a secret value appears in it (a structured config that substituted one)."""
    inputs = template_inputs(inputs) if template else clean_io(inputs, INPUT_DEFAULTS)
    outputs = clean_io(outputs, TEMPLATE_OUTPUT_DEFAULTS if template else OUTPUT_DEFAULTS)
    if keyring is not None:
        config, inputs = secrets.seal_config_inputs(keyring, config, inputs, set(secret), derived)
    row = SoftwareConfig(
        id=config_id or str(uuid.uuid4()),
        name=name,
        group=group,
        body={"config": config, "inputs": inputs, "outputs": outputs, "options": options},
        project=project,
        deployment_id=deployment_id,
        created_at=now,
    )
    session.add(row)
    return row


def format_config(row: SoftwareConfig, keyring: Keyring | None = None) -> dict:
    """The software config as the API and the server metadata show it; with a keyring its
    sealed values are opened (what the agent must receive), otherwise they stay sealed."""
    entry = {
        "id": row.id,
        "name": row.name,
        "group": row.group,
        "creation_time": iso(row.created_at),
        "config": row.body.get("config"),
        "inputs": row.body.get("inputs") or [],
        "outputs": row.body.get("outputs") or [],
        # Never null: heat-agents' hooks call options.get() (Heat answers {} too).
        "options": row.body.get("options") or {},
    }
    return open_entry(keyring, entry) if keyring is not None else entry


def derived_inputs(
    source: SoftwareConfig | None, input_values: dict, base: list[tuple[str, str, Any]], keyring: Keyring | None = None
) -> list[dict]:
    """Declared inputs with values, then undeclared values, then the deploy_* inputs (Heat's
    order). A declared input's sealed default is opened with `keyring`."""
    declared = (source.body.get("inputs") or []) if source else []
    if keyring is not None:
        declared = open_inputs(keyring, declared)
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


def deploy_inputs(
    *,
    server_id: str,
    action: str,
    stack_name: str,
    stack_id: str,
    resource_name: str,
    transport: str,
    signal_url: str | None,
    principal: SignalPrincipal | None = None,
) -> list[tuple[str, str, Any]]:
    """The deploy_* inputs in Heat's order, then what Hearth adds for the transport.

    CFN_SIGNAL and TEMP_URL_SIGNAL carry the signal URL and verb, as in Heat. HEAT_SIGNAL and
    ZAQAR_SIGNAL carry Heat's credential inputs (from `principal`; ZAQAR_SIGNAL also the queue)
    and nothing more, exactly as Heat: heat-config-notify then logs in to Hearth's guest
    Keystone (engine/guest/transports/heat.py) and calls the resource signal route, or posts on
    the deployment's Zaqar queue (engine/guest/queues.py); it would prefer a `deploy_signal_id`
    if there were one.
    """
    base = [
        ("deploy_server_id", "ID of the server being deployed to", server_id),
        ("deploy_action", "Name of the current action being deployed", action),
        ("deploy_stack_id", "ID of the stack this deployment belongs to", quote(f"{stack_name}/{stack_id}", safe="/")),
        ("deploy_resource_name", "Name of this deployment resource in the stack", resource_name),
        (
            "deploy_signal_transport",
            "How the server should signal to heat with the deployment output values.",
            transport,
        ),
    ]
    if transport == "NO_SIGNAL" or not signal_url:
        return base
    signal = [
        ("deploy_signal_id", "ID of signal to use for signaling output values", signal_url),
        ("deploy_signal_verb", "HTTP verb to use for signaling output values", SIGNAL_VERBS[transport]),
    ]
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
    return base


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


def substitute_inputs(snippet: Any, values: dict[str, Any], input_key: str = "get_input", strict: bool = False) -> Any:
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
