"""Files the installation keeps beside its database (key file, admin token, agent homes): owns no
path; writes the one its caller names, atomically and owner-only. Touches only the file system."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_private(path: Path, data: bytes | str) -> None:
    """Write `data` to `path`, mode 0600, atomically: a temporary file in the same directory,
    flushed to disk, then renamed over `path`, so a crash leaves the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:  # mkstemp creates it 0600
            handle.write(data.encode() if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
