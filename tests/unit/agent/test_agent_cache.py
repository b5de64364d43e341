"""agent.cache: one file per source, round trip, and a corrupt cache is logged, set aside, ignored and replaced."""

import json
import logging

import pytest

from agent.cache import MetadataCache


def test_round_trip(tmp_path):
    cache = MetadataCache(tmp_path / "cache", "hearth")
    assert cache.load() is None
    cache.store("7", {"deployments": [{"id": "a"}]}, fetched_at=123.0)
    loaded = cache.load()
    assert (loaded.version, loaded.metadata, loaded.fetched_at) == ("7", {"deployments": [{"id": "a"}]}, 123.0)
    document = json.loads((tmp_path / "cache" / "hearth.json").read_text())
    assert set(document) == {"version", "metadata", "fetched_at"}


def test_each_source_has_its_own_file(tmp_path):
    MetadataCache(tmp_path, "hearth").store("1", {"a": 1})
    MetadataCache(tmp_path, "local").store("x", {"b": 2})
    assert MetadataCache(tmp_path, "hearth").load().metadata == {"a": 1}
    assert MetadataCache(tmp_path, "local").load().metadata == {"b": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hearth.json", "local.json"]
    assert MetadataCache(tmp_path, "../evil").path.parent == tmp_path


@pytest.mark.parametrize(
    "content",
    ['{"version": 1, "metadata": {', "[1, 2]", '{"metadata": {}}', '{"version": 1, "metadata": []}', "\xff\xfe"],
)
def test_corrupt_cache_is_set_aside(tmp_path, caplog, content):
    directory = tmp_path / "cache"
    directory.mkdir()
    (directory / "request.json").write_text(content, encoding="latin-1")
    with caplog.at_level(logging.ERROR, logger="hearth.agent.cache"):
        assert MetadataCache(directory, "request").load() is None
    assert "corrupt" in caplog.text
    names = [p.name for p in directory.iterdir()]
    assert len(names) == 1 and names[0].startswith("request.json.corrupt-")
    cache = MetadataCache(directory, "request")
    assert cache.load() is None  # nothing left to complain about
    cache.store(2, {})
    assert cache.load().version == 2
