"""Files the installation keeps beside its database (key file, admin token, agent homes): owns no
path; writes the one its caller names, atomically and owner-only. Touches only the file system."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _written_temp(path: Path, data: bytes | str) -> str:
    """A temporary file beside `path` (mode 0600, as mkstemp makes it) holding `data`, on disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode() if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return temp


def create_private(path: Path, data: bytes | str) -> bool:
    """Create `path` holding `data` (mode 0600) unless it exists; False if it did. Whole or
    absent: the file appears by a hard link of a finished temporary file, so neither a crash
    nor a second process starting at the same moment ever sees it half written."""
    temp = _written_temp(path, data)
    try:
        os.link(temp, path)
    except FileExistsError:
        return False
    finally:
        os.unlink(temp)
    return True


def write_private(path: Path, data: bytes | str) -> None:
    """Write `data` to `path`, mode 0600, atomically: a temporary file in the same directory,
    flushed to disk, then renamed over `path`, so a crash leaves the old file or the new one."""
    temp = _written_temp(path, data)
    try:
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
