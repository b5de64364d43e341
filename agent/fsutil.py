"""Atomic file writes and safe names: owns no path, touches only the files and directories its
callers name (temp file in the same directory, fsync, rename, fsync directory)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def ensure_dir(path: Path, mode: int = 0o700) -> Path:
    """Create ``path`` (and parents) with ``mode`` if missing; return it."""
    path.mkdir(mode=mode, parents=True, exist_ok=True)
    return path


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` so that readers see the old or the new file, never a part."""
    directory = path.parent
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(directory)


def atomic_write_text(path: Path, text: str, mode: int = 0o600) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), mode)


def atomic_write_json(path: Path, document: Any, mode: int = 0o600) -> None:
    """Serialise first, so a value that cannot be encoded leaves the old file untouched."""
    data = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    atomic_write_bytes(path, data.encode("utf-8"), mode)


def read_json(path: Path) -> Any:
    """Parse ``path`` as JSON; raises FileNotFoundError or ValueError."""
    with open(path, "rb") as handle:
        return json.loads(handle.read().decode("utf-8"))


def remove_durably(path: Path) -> None:
    """Unlink ``path`` (if present) and fsync its directory."""
    try:
        path.unlink()
    except FileNotFoundError:
        return
    fsync_dir(path.parent)


def move_durably(source: Path, target_dir: Path) -> Path:
    """Rename ``source`` into ``target_dir`` (same file system) and fsync both directories."""
    ensure_dir(target_dir)
    target = target_dir / source.name
    os.replace(source, target)
    fsync_dir(target_dir)
    fsync_dir(source.parent)
    return target


def move_aside(path: Path, reason: str) -> Path:
    """Rename a file we cannot use to ``<name>.<reason>-<timestamp>`` next to it, for inspection."""
    target = path.with_name(f"{path.name}.{reason}-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}")
    os.replace(path, target)
    fsync_dir(path.parent)
    return target


def safe_name(identifier: str) -> str:
    """A file name for ``identifier``: itself when harmless (UUIDs are), else a sha256 digest."""
    if _SAFE_NAME.fullmatch(identifier) and ".." not in identifier:
        return identifier
    return "id-" + hashlib.sha256(identifier.encode("utf-8")).hexdigest()
