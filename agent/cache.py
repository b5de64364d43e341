"""Each source's last good metadata: owns ``cache/<collector>.json`` under the state directory;
touches only those files (a corrupt one is renamed aside), no network.

A file holds {version, metadata, fetched_at}.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.fsutil import atomic_write_json, ensure_dir, move_aside, read_json, safe_name

LOG = logging.getLogger("hearth.agent.cache")


@dataclass(frozen=True)
class CachedMetadata:
    version: Any
    metadata: dict[str, Any]
    fetched_at: float


class MetadataCache:
    """One source's cache file; the agent merges the sources, so each keeps its own document."""

    def __init__(self, directory: Path, source: str = "hearth"):
        self.directory = directory
        self.source = source
        self.path = directory / f"{safe_name(source)}.json"

    def load(self) -> CachedMetadata | None:
        """The cached metadata, or None when there is none or it cannot be used."""
        try:
            document = read_json(self.path)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            self._set_aside(f"unreadable JSON ({exc})")
            return None
        if (
            not isinstance(document, dict)
            or "version" not in document
            or not isinstance(document.get("metadata"), dict)
        ):
            self._set_aside("not a {version, metadata} object")
            return None
        return CachedMetadata(
            version=document["version"],
            metadata=document["metadata"],
            fetched_at=float(document.get("fetched_at") or 0.0),
        )

    def store(self, version: Any, metadata: dict[str, Any], fetched_at: float | None = None) -> CachedMetadata:
        entry = CachedMetadata(
            version=version, metadata=metadata, fetched_at=time.time() if fetched_at is None else fetched_at
        )
        ensure_dir(self.directory)
        atomic_write_json(
            self.path, {"version": entry.version, "metadata": entry.metadata, "fetched_at": entry.fetched_at}
        )
        return entry

    def _set_aside(self, reason: str) -> None:
        try:
            moved = move_aside(self.path, "corrupt")
        except OSError as exc:
            LOG.error(
                "metadata cache %s is corrupt (%s) and cannot be moved aside: %s; ignoring it", self.path, reason, exc
            )
            return None
        LOG.error("metadata cache %s is corrupt (%s); moved it to %s and ignoring it", self.path, reason, moved.name)
        return None
