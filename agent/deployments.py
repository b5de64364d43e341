"""Deployment entries: owns the done ledger ``deployed/<key>.json`` under the state directory
(class DoneLedger); the rest is pure: done keys, hook names, input normalisation.

A done key is made of (id, action, config checksum).
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import re
import time
from pathlib import Path
from typing import Any

from agent.fsutil import atomic_write_json, ensure_dir

LOG = logging.getLogger("hearth.agent.deployments")

# heat-agents never runs these groups and never signals them (55-heat-config step 3.4).
SILENT_GROUPS = frozenset({"Heat::Ungrouped", "os-apply-config"})
NO_SIGNAL = "NO_SIGNAL"


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def config_checksum(config: Any) -> str:
    """sha256 of the entry's ``config`` in canonical JSON, so key order does not matter."""
    return hashlib.sha256(_canonical(config)).hexdigest()


def input_value(entry: dict[str, Any], name: str, default: Any = None) -> Any:
    for item in entry.get("inputs") or []:
        if isinstance(item, dict) and item.get("name") == name:
            return item.get("value", default)
    return default


def done_key(entry: dict[str, Any]) -> str:
    """The idempotency key: a finished run of the same (id, deploy_action, config) never repeats.

    Finished means the hook produced a result, success or failure alike: a failed run is
    signalled and marked done too. Only a run that never reached its hand-over (stopped by
    SIGTERM, or a crash before its signal was staged) runs again.
    """
    parts = [entry.get("id"), input_value(entry, "deploy_action"), config_checksum(entry.get("config"))]
    return hashlib.sha256(_canonical(parts)).hexdigest()


def hook_name(group: str) -> str:
    """The group filtered to ``[A-Za-z0-9_-]``, as heat-agents names hooks."""
    return re.sub(r"[^A-Za-z0-9_-]", "", group)


def wants_signal(entry: dict[str, Any]) -> bool:
    transport: object = input_value(entry, "deploy_signal_transport")
    return transport != NO_SIGNAL


def prepare(entry: dict[str, Any]) -> dict[str, Any] | None:
    """The entry as handed to a hook, or None when heat-agents would skip it.

    String-typed inputs whose value is not a string are converted with str() (LP #1333992), and
    a ``component`` entry is replaced by its config for the current action (step 3.2).
    """
    prepared = copy.deepcopy(entry)
    for item in prepared.get("inputs") or []:
        if (
            isinstance(item, dict)
            and item.get("type") == "String"
            and "value" in item
            and not isinstance(item["value"], str)
        ):
            item["value"] = str(item["value"])
    if prepared.get("group") == "component":
        action = input_value(prepared, "deploy_action")
        config = prepared.get("config")
        configs = (config.get("configs") if isinstance(config, dict) else None) or []
        chosen = next((c for c in configs if isinstance(c, dict) and action in (c.get("actions") or [])), None)
        if chosen is None:
            return None
        prepared["config"] = chosen.get("config")
        prepared["group"] = chosen.get("tool")
    return prepared


def done_record(key: str, entry: dict[str, Any], status_code: Any) -> dict[str, Any]:
    """A done marker's contents: a summary only, as the entry can hold credentials."""
    return {
        "key": key,
        "id": entry.get("id"),
        "name": entry.get("name"),
        "group": entry.get("group"),
        "action": input_value(entry, "deploy_action"),
        "config_checksum": config_checksum(entry.get("config")),
        "deploy_status_code": status_code,
        "deployed_at": time.time(),
    }


class DoneLedger:
    """``deployed/<key>.json``: written after a run's signal is staged and before it is published."""

    def __init__(self, directory: Path):
        self.directory = directory

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def is_done(self, key: str) -> bool:
        return self.path(key).exists()

    def write(self, key: str, record: dict[str, Any]) -> None:
        ensure_dir(self.directory)
        atomic_write_json(self.path(key), record)

    def mark_done(self, key: str, entry: dict[str, Any], status_code: Any) -> None:
        self.write(key, done_record(key, entry, status_code))
