"""agent.fsutil: atomic replacement, no stray temp files, safe names."""

import json
import stat

import pytest

from agent.fsutil import (
    atomic_write_bytes,
    atomic_write_json,
    move_aside,
    move_durably,
    remove_durably,
    safe_name,
)


def test_atomic_write_replaces_whole_file_with_private_mode(tmp_path):
    target = tmp_path / "doc.json"
    atomic_write_json(target, {"a": 1})
    atomic_write_json(target, {"b": 2})
    assert json.loads(target.read_text()) == {"b": 2}
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["doc.json"]


def test_unencodable_document_leaves_old_file_untouched(tmp_path):
    target = tmp_path / "doc.json"
    atomic_write_json(target, {"a": 1})
    with pytest.raises(TypeError):
        atomic_write_json(target, {"a": object()})
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["doc.json"]


def test_failure_after_temp_file_exists_removes_it(tmp_path):
    target = tmp_path / "data"
    target.write_bytes(b"old")
    with pytest.raises(TypeError):
        atomic_write_bytes(target, "not bytes")  # fails inside write(), after mkstemp
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["data"]


def test_mode_is_applied(tmp_path):
    target = tmp_path / "status.json"
    atomic_write_bytes(target, b"{}", mode=0o644)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_move_and_remove(tmp_path):
    source = tmp_path / "item.json"
    source.write_text("{}")
    moved = move_durably(source, tmp_path / "dead")
    assert moved == tmp_path / "dead" / "item.json" and moved.exists() and not source.exists()
    remove_durably(moved)
    remove_durably(moved)  # already gone: no error
    assert not moved.exists()


def test_move_aside_keeps_the_file_for_inspection(tmp_path):
    broken = tmp_path / "metadata.json"
    broken.write_text("{not json")
    aside = move_aside(broken, "corrupt")
    assert not broken.exists()
    assert aside.name.startswith("metadata.json.corrupt-") and aside.read_text() == "{not json"


@pytest.mark.parametrize("identifier", ["6a1c0e2e-8f5e-4a57-9d0b-0c9e5d7f1a2b", "abc_1.json"])
def test_safe_name_keeps_harmless_ids(identifier):
    assert safe_name(identifier) == identifier


@pytest.mark.parametrize("identifier", ["../etc/passwd", "a/b", "", ".hidden", "x" * 300, "a..b"])
def test_safe_name_hashes_anything_else(identifier):
    name = safe_name(identifier)
    assert name.startswith("id-") and len(name) == 67 and "/" not in name
