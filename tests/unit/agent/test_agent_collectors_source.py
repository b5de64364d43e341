"""agent.collectors.source: a collector in its thread against the stand-in guest API: last good data, per-source cache, backoff."""

import itertools
import json
import logging
import threading
import time
from types import SimpleNamespace

import pytest

from agent.cache import MetadataCache
from agent.collectors import Fetch, Unavailable
from agent.collectors.hearth import HearthCollector
from agent.collectors.source import Source


def hearth(guest, session):
    return HearthCollector(
        session,
        SimpleNamespace(
            metadata_url=f"{guest.base_url}/guest/v1/servers/{guest.server_id}/metadata", credential=guest.credential
        ),
    )


@pytest.fixture
def sources():
    made = []
    reports = threading.Event()

    def make(collector, cache_dir, **options):
        options.setdefault("jitter", lambda: 0.0)  # no random backoff: retry at once
        source = Source(
            collector,
            MetadataCache(cache_dir, collector.name),
            reports.set,
            poll_wait=options.pop("poll_wait", 5.0),
            lock=threading.Lock(),
            **options,
        )
        made.append(source)
        return source

    make.reports = reports
    yield make
    for source in made:
        source.stop()


def test_the_first_answer_is_kept_in_memory_and_in_its_cache_file(guest, session, tmp_path, sources, wait_for):
    guest.set_metadata({"deployments": [{"id": "a"}]})
    source = sources(hearth(guest, session), tmp_path)
    source.start()
    wait_for(lambda: source.settled and source.current, message="first answer")
    assert source.current.metadata == {"deployments": [{"id": "a"}]}
    assert json.loads((tmp_path / "hearth.json").read_text())["version"] == "2"
    assert sources.reports.is_set()
    guest.set_metadata({"deployments": [{"id": "b"}]})  # the held long-poll brings it
    wait_for(lambda: source.current.version == "3", message="change")
    assert json.loads((tmp_path / "hearth.json").read_text())["metadata"] == {"deployments": [{"id": "b"}]}


def test_a_source_that_is_down_at_start_uses_its_cache_then_the_fresh_answer(
    guest, session, tmp_path, sources, wait_for, caplog
):
    caplog.set_level(logging.INFO, logger="hearth.agent")
    MetadataCache(tmp_path, "hearth").store("1", {"cached": True})
    guest.metadata_statuses = [503, 503]
    guest.set_metadata({"fresh": True})
    source = sources(hearth(guest, session), tmp_path)
    source.start()
    wait_for(
        lambda: source.current and source.current.metadata == {"fresh": True}, message="fresh answer after the outage"
    )
    assert "working from cached metadata version 1" in caplog.text
    assert caplog.text.count("source unavailable") == 1
    assert "reachable again after 2 failed attempt(s)" in caplog.text


def test_a_source_going_down_keeps_its_last_good_document(guest, session, tmp_path, sources, wait_for):
    guest.set_metadata({"good": 1})
    source = sources(hearth(guest, session), tmp_path, poll_wait=0.2)
    source.start()
    wait_for(lambda: source.current, message="first answer")
    guest.metadata_statuses = [500] * 5
    wait_for(lambda: not guest.metadata_statuses, message="five failures")
    assert source.current.metadata == {"good": 1}
    assert MetadataCache(tmp_path, "hearth").load().metadata == {"good": 1}


def test_a_corrupt_cache_is_set_aside_and_replaced_by_the_next_good_answer(guest, session, tmp_path, sources, wait_for):
    (tmp_path / "hearth.json").write_text("{broken")
    guest.set_metadata({"new": 1})
    source = sources(hearth(guest, session), tmp_path)
    assert source.current is None
    assert [p.name.startswith("hearth.json.corrupt-") for p in tmp_path.iterdir()] == [True]
    source.start()
    wait_for(lambda: (tmp_path / "hearth.json").exists(), message="cache rewritten")
    assert MetadataCache(tmp_path, "hearth").load().metadata == {"new": 1}


class Scripted:
    """A collector that raises what it is told to: to see the backoff without a clock."""

    name = "scripted"

    def __init__(self, errors):
        self.errors = list(errors)
        self.calls: list[float] = []

    def fetch(self, since, wait):
        self.calls.append(time.monotonic())
        if self.errors:
            raise self.errors.pop(0)
        return Fetch(changed=True, version="v", metadata={"ok": True})

    def wait_for_change(self, stop, wait):
        stop.wait()

    def close(self):
        pass


def test_retry_after_is_honoured_with_jitter_added(tmp_path, sources, wait_for):
    collector = Scripted([Unavailable("slow down", kind="rate-limited", retry_after=0.6)])
    source = sources(collector, tmp_path, jitter=lambda: 1.0)
    source.start()
    wait_for(lambda: source.current, message="retry")
    assert collector.calls[1] - collector.calls[0] >= 0.65  # 0.6 s plus the 10 % jitter
    assert source.current.metadata == {"ok": True}


def test_backoff_doubles_with_jitter_applied(tmp_path, sources, wait_for):
    collector = Scripted([Unavailable("down")] * 3)
    source = sources(collector, tmp_path, jitter=lambda: 0.5)
    source.start()
    wait_for(lambda: source.current, message="three retries, then an answer")
    gaps = [b - a for a, b in itertools.pairwise(collector.calls)]
    # full jitter of min(30, 0.5 * 2^(n-1)) with jitter 0.5: 0.25, 0.5, 1.0 s
    for gap, expected in zip(gaps, (0.25, 0.5, 1.0), strict=False):
        assert expected - 0.05 <= gap < expected + 1.0  # upper bound: room for a loaded host
    assert source.current.metadata == {"ok": True}


def test_once_falls_back_on_the_cache(tmp_path, sources, wait_for):
    MetadataCache(tmp_path, "scripted").store("c", {"cached": 1})
    source = sources(Scripted([Unavailable("down")]), tmp_path)
    source.start_once()
    wait_for(lambda: source.settled, message="settled")
    assert source.current.metadata == {"cached": 1}
