"""Merging metadata documents in a given order, pure (no I/O): later documents win for plain keys,
``deployments`` are combined by id.

Pure functions: used to merge the sources named in the bootstrap's ``collectors`` list and,
inside the ``local`` collector, the files of its directories.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

DEPLOYMENTS = "deployments"


def merge_documents(documents: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """One document from several, in order.

    A top-level key other than ``deployments`` takes the value of the last document that has
    it (a shallow merge, as the whole value is replaced). ``deployments`` lists are combined:
    an entry whose ``id`` a later document also has is replaced by the later one; entries
    without a string id are kept as they are (the deployer reports them). The combined list is
    sorted by ``name`` (stably), the order Heat and Hearth give one server's deployments.
    A ``deployments`` value that is not a list is ignored.
    """
    merged: dict[str, Any] = {}
    by_id: dict[str, Any] = {}
    anonymous: list[dict[str, Any]] = []
    seen_deployments = False
    for document in documents:
        for key, value in document.items():
            if key != DEPLOYMENTS:
                merged[key] = value
                continue
            if not isinstance(value, list):
                continue
            seen_deployments = True
            for entry in value:
                entry_id = entry.get("id") if isinstance(entry, dict) else None
                if isinstance(entry_id, str):
                    by_id[entry_id] = entry
                else:
                    anonymous.append(entry)
    if seen_deployments:
        merged[DEPLOYMENTS] = sorted([*by_id.values(), *anonymous], key=_name)
    return merged


def _name(entry: Any) -> str:
    name = entry.get("name") if isinstance(entry, dict) else None
    return name if isinstance(name, str) else ""


def digest(document: Any) -> str:
    """A short, stable version for a document that has none of its own (key order ignored)."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]
