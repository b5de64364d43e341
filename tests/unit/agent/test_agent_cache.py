"""agent.cache: round trip, and a corrupt cache is logged, set aside and ignored."""

import json
import logging

import pytest

from agent.cache import MetadataCache


def test_round_trip(tmp_path):
    cache = MetadataCache(tmp_path / "cache")
    assert cache.load() is None
    cache.store("7", {"deployments": [{"id": "a"}]}, fetched_at=123.0)
    loaded = cache.load()
    assert (loaded.version, loaded.metadata, loaded.fetched_at) == (
        "7", {"deployments": [{"id": "a"}]}, 123.0)
    document = json.loads((tmp_path / "cache" / "metadata.json").read_text())
    assert set(document) == {"version", "metadata", "fetched_at"}


@pytest.mark.parametrize("content", ['{"version": 1, "metadata": {', "[1, 2]",
                                     '{"metadata": {}}', '{"version": 1, "metadata": []}',
                                     "\xff\xfe"])
def test_corrupt_cache_is_set_aside(tmp_path, caplog, content):
    directory = tmp_path / "cache"
    directory.mkdir()
    (directory / "metadata.json").write_text(content, encoding="latin-1")
    with caplog.at_level(logging.ERROR, logger="hearth.agent.cache"):
        assert MetadataCache(directory).load() is None
    assert "corrupt" in caplog.text
    names = [p.name for p in directory.iterdir()]
    assert len(names) == 1 and names[0].startswith("metadata.json.corrupt-")
    cache = MetadataCache(directory)
    assert cache.load() is None  # nothing left to complain about
    cache.store(2, {})
    assert cache.load().version == 2
