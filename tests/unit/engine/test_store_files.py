"""engine.store.files: the owner-only writers, on a real file system."""

from __future__ import annotations

import os
import stat
import threading

from engine.store.crypto import load_or_create_key
from engine.store.files import create_private, write_private


def test_write_private_replaces_whole_and_owner_only(tmp_path):
    target = tmp_path / "deep" / "token"
    write_private(target, "first\n")
    write_private(target, b"second\n")
    assert target.read_text() == "second\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["token"]  # no temporary file left


def test_create_private_never_overwrites(tmp_path):
    target = tmp_path / "secret.key"
    assert create_private(target, "mine\n") is True
    assert create_private(target, "theirs\n") is False
    assert target.read_text() == "mine\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(os.listdir(tmp_path)) == ["secret.key"]


def test_processes_starting_together_share_one_key(tmp_path):
    """Before, the second of two first starts failed on O_EXCL (or read a half-written file)."""
    keys: list[str] = []
    start = threading.Barrier(8)

    def first_start() -> None:
        start.wait()
        keys.append(load_or_create_key(str(tmp_path)))

    threads = [threading.Thread(target=first_start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 8 and len(set(keys)) == 1 and keys[0]
    assert (tmp_path / "secret.key").read_text().strip() == keys[0]
