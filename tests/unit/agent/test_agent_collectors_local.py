"""agent.collectors.local on real directories with the real watchdog observer: name order, bad files, events not polling."""

import json
import logging
import os
import threading
import time
from types import SimpleNamespace

import pytest

from agent.collectors import NotConfigured
from agent.collectors.local import DEFAULT_PATH, LocalCollector


@pytest.fixture
def made():
    collectors = []

    def make(*paths):
        bootstrap = SimpleNamespace(sections={"local": {"path": [str(p) for p in paths]}})
        collectors.append(LocalCollector(None, bootstrap))
        return collectors[-1]

    yield make
    for collector in collectors:
        collector.close()


def put(path, document):
    """Write atomically, as a config drive tool or cloud-init would be asked to."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(document if isinstance(document, str) else json.dumps(document))
    os.replace(tmp, path)


def waiter(collector, stop):
    thread = threading.Thread(target=collector.wait_for_change, args=(stop, 0), daemon=True)
    thread.start()
    return thread


def test_default_path_and_not_configured():
    assert LocalCollector(None, SimpleNamespace(sections={})).directories[0].as_posix() == DEFAULT_PATH
    with pytest.raises(NotConfigured):
        LocalCollector(None, SimpleNamespace(sections={"local": {"path": []}}))


def test_files_are_merged_in_name_order_across_directories(tmp_path, made):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    put(first / "20-late.json", {"role": "late", "deployments": [{"id": "x", "name": "2"}]})
    put(
        second / "10-early.json",
        {"role": "early", "only": 1, "deployments": [{"id": "x", "name": "1"}, {"id": "y", "name": "0"}]},
    )
    put(second / "a.json", {"role": "a: after B in C (byte) order"})
    put(first / "B.json", {"role": "B"})
    put(first / "notes.txt", "not read: not *.json")
    put(first / ".hidden.json", {"role": "hidden"})
    answer = made(first, second).fetch(None, 0)
    assert answer.changed
    assert answer.metadata == {
        "role": "a: after B in C (byte) order",
        "only": 1,
        "deployments": [{"id": "y", "name": "0"}, {"id": "x", "name": "2"}],
    }


def test_a_bad_file_is_skipped_with_one_log_line(tmp_path, made, caplog):
    put(tmp_path / "10-good.json", {"good": True})
    put(tmp_path / "20-bad.json", "{not json")
    put(tmp_path / "30-list.json", "[1, 2]")
    collector = made(tmp_path)
    with caplog.at_level(logging.ERROR, logger="hearth.agent.collectors"):
        first = collector.fetch(None, 0)
        again = collector.fetch(first.version, 0)
    assert first.metadata == {"good": True} and not again.changed
    assert caplog.text.count("20-bad.json is not valid JSON") == 1
    assert caplog.text.count("30-list.json is not a JSON object") == 1


def test_untrusted_files_and_directories_are_ignored(tmp_path, made, caplog):
    shared = tmp_path / "shared"
    shared.mkdir()
    put(shared / "x.json", {"from": "shared"})
    shared.chmod(0o777)
    mine = tmp_path / "mine"
    mine.mkdir()
    put(mine / "open.json", {"from": "open"})
    (mine / "open.json").chmod(0o666)
    put(mine / "ok.json", {"ok": 1})
    assert made(shared, mine).fetch(None, 0).metadata == {"ok": 1}
    assert "writable by everyone; ignoring it" in caplog.text
    assert "open.json is writable by everyone; skipping it" in caplog.text


def test_a_change_wakes_the_waiter_within_a_second(tmp_path, made):
    put(tmp_path / "a.json", {"n": 1})
    collector = made(tmp_path)
    first = collector.fetch(None, 0)  # starts watching
    stop = threading.Event()
    thread = waiter(collector, stop)
    thread.join(0.5)
    assert thread.is_alive(), "nothing changed, so the waiter must still be blocked"
    changed_at = time.monotonic()
    put(tmp_path / "a.json", {"n": 2})
    thread.join(5)
    # Within a second by design (0.1-0.5 s of settling); 1.5 s leaves room for a loaded host.
    assert not thread.is_alive() and time.monotonic() - changed_at < 1.5
    answer = collector.fetch(first.version, 0)
    assert answer.changed and answer.metadata == {"n": 2}
    assert not collector.fetch(answer.version, 0).changed


def test_reading_does_not_wake_the_waiter(tmp_path, made):
    """Our own reads cause opened/closed-without-write events: they must not count."""
    put(tmp_path / "a.json", {"n": 1})
    collector = made(tmp_path)
    version = collector.fetch(None, 0).version
    thread = waiter(collector, threading.Event())
    for _ in range(3):
        assert not collector.fetch(version, 0).changed
    thread.join(0.5)
    assert thread.is_alive()
    collector.close()  # close wakes it
    thread.join(5)
    assert not thread.is_alive()


def test_a_directory_that_appears_later_is_picked_up(tmp_path, made, caplog):
    later = tmp_path / "later"
    collector = made(later)
    first = collector.fetch(None, 0)
    assert first.metadata == {} and "does not exist (yet)" in caplog.text
    thread = waiter(collector, threading.Event())
    later.mkdir()
    thread.join(5)
    assert not thread.is_alive()
    collector.fetch(first.version, 0)  # now watching the directory itself
    thread = waiter(collector, threading.Event())
    put(later / "x.json", {"x": 1})
    thread.join(5)
    assert not thread.is_alive()
    assert collector.fetch(first.version, 0).metadata == {"x": 1}
