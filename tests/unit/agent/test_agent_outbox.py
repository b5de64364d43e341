"""agent.outbox against a real HTTP stand-in for the guest API: delivery, retries, dead letters, staging, persistence."""

import json
import logging
import threading
import time
from typing import Any

import pytest

from agent.outbox import Outbox, retry_after_seconds


def put(outbox: Outbox, entry_id: str, payload: dict[str, Any]) -> None:
    """Stage and publish at once, as the deployer does for a run with no done marker."""
    outbox.publish(outbox.stage(entry_id, payload))


class Clock:
    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now


def make_outbox(tmp_path, session, guest, **kwargs):
    kwargs.setdefault("jitter", lambda: 0.0)
    return Outbox(tmp_path / "outbox", session, guest.base_url, guest.credential, **kwargs)


def test_put_then_flush_delivers_and_removes(tmp_path, session, guest):
    outbox = make_outbox(tmp_path, session, guest)
    put(outbox, "dep-1", {"deploy_status_code": 0, "result": "ok"})
    assert (tmp_path / "outbox" / "dep-1.json").exists()
    assert outbox.flush() == 0
    assert [(s["entry_id"], s["body"], s["authorization"]) for s in guest.signals] == [
        ("dep-1", {"deploy_status_code": 0, "result": "ok"}, f"Bearer {guest.credential}")
    ]
    assert outbox.pending() == [] and not (tmp_path / "outbox" / "dep-1.json").exists()


def test_503_twice_then_200_is_retried_until_delivered(tmp_path, session, guest):
    guest.signal_statuses["dep-1"] = [503, 503]
    outbox = make_outbox(tmp_path, session, guest, jitter=lambda: 0.1)
    put(outbox, "dep-1", {"deploy_status_code": 0})
    assert outbox.flush(deadline=time.monotonic() + 10) == 0
    assert len(guest.signal_attempts) == 3 and len(guest.signals) == 1


def test_409_counts_as_delivered_and_is_recorded(tmp_path, session, guest):
    guest.signal_statuses["dep-1"] = [409]
    outbox = make_outbox(tmp_path, session, guest)
    put(outbox, "dep-1", {"deploy_status_code": 0})
    assert outbox.flush() == 0
    record = json.loads((tmp_path / "outbox" / "done" / "dep-1.json").read_text())
    assert record["status"] == 409 and record["payload"] == {"deploy_status_code": 0}
    assert len(guest.signal_attempts) == 1 and outbox.pending() == []


def test_404_moves_the_item_to_dead(tmp_path, session, guest):
    guest.signal_statuses["dep-1"] = [404]
    outbox = make_outbox(tmp_path, session, guest)
    put(outbox, "dep-1", {"deploy_status_code": 1})
    assert outbox.flush() == 0
    assert json.loads((tmp_path / "outbox" / "dead" / "dep-1.json").read_text())["status"] == 404
    assert outbox.pending() == []


@pytest.mark.parametrize(
    "status, payload, message",
    [
        (400, {"deploy_status_code": 0}, "deploy_status_code: must be an integer"),
        # A real oversized body: the stand-in refuses it as the server does, before parsing.
        (413, {"big": "x" * (5 * 1024 * 1024)}, "the body is larger than the 4194304 bytes"),
    ],
)
def test_answers_the_server_never_accepts_go_to_dead_with_the_reason(
    tmp_path, session, guest, caplog, status, payload, message
):
    if status == 400:
        guest.signal_statuses["dep-1"] = [(400, message)]
    outbox = make_outbox(tmp_path, session, guest)
    put(outbox, "dep-1", payload)
    with caplog.at_level(logging.INFO, logger="hearth.agent.outbox"):
        assert outbox.flush(deadline=time.monotonic() + 5) == 0
    assert len(guest.signal_attempts) == 1 and guest.signals == []
    record = json.loads((tmp_path / "outbox" / "dead" / "dep-1.json").read_text())
    assert record["status"] == status and message in record["message"]
    assert outbox.pending() == []
    [line] = [r.getMessage() for r in caplog.records if "outbox/dead" in r.getMessage()]
    assert f"HTTP {status}" in line and message in line


def test_refused_credential_is_retried_and_logged_once_per_outage(tmp_path, session, guest, caplog):
    guest.signal_statuses["dep-1"] = [401, 403, 401, 401]
    outbox = make_outbox(tmp_path, session, guest, jitter=lambda: 0.01)
    with caplog.at_level(logging.DEBUG, logger="hearth.agent.outbox"):
        put(outbox, "dep-1", {"n": 1})
        assert outbox.flush(deadline=time.monotonic() + 10) == 0
        guest.signal_statuses["dep-2"] = [(403, "credential revoked"), 403]
        put(outbox, "dep-2", {"n": 2})
        assert outbox.flush(deadline=time.monotonic() + 10) == 0
    assert len(guest.signal_attempts) == 8 and len(guest.signals) == 2
    loud = [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.INFO and ("HTTP 401" in r.getMessage() or "HTTP 403" in r.getMessage())
    ]
    assert len(loud) == 2, loud  # one line per outage, not one per attempt
    assert "HTTP 401" in loud[0] and "credential revoked" in loud[1]
    assert sum("accepted this server's credential again" in r.getMessage() for r in caplog.records) == 2


def test_a_staged_signal_is_invisible_to_the_sender_until_published(tmp_path, session, guest, wait_for):
    outbox = make_outbox(tmp_path, session, guest)
    stop = threading.Event()
    sender = outbox.start_sender(stop)
    try:
        staged = outbox.stage("dep-1", {"n": 1}, done_key="k1", done_record={"key": "k1"})
        assert staged.name == "dep-1.json.staged"
        put(outbox, "dep-2", {"n": 2})  # a later item: once it is sent, dep-1 was passed over
        wait_for(lambda: guest.signals, timeout=5, message="the published signal")
        assert outbox.flush(force=True) == 0 and outbox.pending() == []
        assert [s["entry_id"] for s in guest.signal_attempts] == ["dep-2"]
        [(path, item)] = outbox.staged_items()
        assert path == staged and item["done_key"] == "k1"
        assert outbox.staged_item("dep-1") == (path, item) and outbox.staged_item("x") is None
        outbox.publish(staged)
        wait_for(lambda: len(guest.signals) == 2, timeout=5, message="the staged signal")
    finally:
        stop.set()
        outbox.wake()
        sender.join(5)
    assert guest.signals[1]["body"] == {"n": 1}
    assert outbox.staged_items() == [] and not staged.exists()


def test_429_honours_retry_after(tmp_path, session, guest):
    clock = Clock()
    guest.signal_statuses["dep-1"] = [429]
    outbox = make_outbox(tmp_path, session, guest, clock=clock)
    put(outbox, "dep-1", {})
    assert outbox.flush() == 1
    [item] = outbox.pending()
    assert item["attempts"] == 1 and item["next_attempt_at"] == clock.now + 7
    assert outbox.flush() == 1 and len(guest.signal_attempts) == 1  # not due yet
    clock.now += 7
    assert outbox.flush() == 0 and len(guest.signals) == 1


def test_backoff_persists_across_a_new_outbox(tmp_path, session, guest):
    clock = Clock()
    guest.signal_statuses["dep-1"] = [503, 503]
    first = make_outbox(tmp_path, session, guest, clock=clock, jitter=lambda: 1.0)
    put(first, "dep-1", {"deploy_status_code": 0})
    assert first.flush() == 1
    clock.now += 0.5
    assert first.flush() == 1
    [item] = first.pending()
    assert (item["attempts"], item["next_attempt_at"]) == (2, clock.now + 1.0)
    assert "HTTP 503" in item["last_error"]

    second = make_outbox(tmp_path, session, guest, clock=clock, jitter=lambda: 1.0)
    assert second.flush() == 1 and len(guest.signal_attempts) == 2  # still backing off
    assert second.flush(force=True) == 0  # start-up delivers old items at once
    assert len(guest.signals) == 1


def test_connection_error_keeps_the_item(tmp_path, session, guest):
    clock = Clock()
    outbox = Outbox(tmp_path / "outbox", session, "http://127.0.0.1:9", "c", clock=clock, jitter=lambda: 1.0)
    put(outbox, "dep-1", {})
    assert outbox.flush() == 1
    [item] = outbox.pending()
    assert item["attempts"] == 1 and item["next_attempt_at"] == clock.now + 0.5
    assert "ConnectionError" in item["last_error"]


def test_background_sender_delivers_at_once(tmp_path, session, guest, wait_for):
    outbox = make_outbox(tmp_path, session, guest)
    stop = threading.Event()
    sender = outbox.start_sender(stop)
    try:
        put(outbox, "dep-1", {"n": 1})
        wait_for(lambda: guest.signals, timeout=5, message="signal")
        put(outbox, "dep-2", {"n": 2})
        wait_for(lambda: len(guest.signals) == 2, timeout=5, message="second signal")
    finally:
        stop.set()
        outbox.wake()
        sender.join(5)
    assert not sender.is_alive()
    assert [s["entry_id"] for s in guest.signals] == ["dep-1", "dep-2"]


def test_unsafe_ids_are_stored_under_a_hashed_name_and_quoted_in_the_url(tmp_path, session, guest):
    outbox = make_outbox(tmp_path, session, guest)
    put(outbox, "odd id?x=1#y", {})
    [path] = (tmp_path / "outbox").glob("*.json")
    assert path.name.startswith("id-")
    assert outbox.flush() == 0
    assert [s["entry_id"] for s in guest.signals] == ["odd id?x=1#y"]


def test_corrupt_item_is_set_aside(tmp_path, session, guest):
    outbox = make_outbox(tmp_path, session, guest)
    (tmp_path / "outbox" / "broken.json").write_text("{")
    assert outbox.flush() == 0
    assert [p.name.startswith("broken.json.corrupt-") for p in (tmp_path / "outbox").iterdir()] == [True]


def test_retry_after_parsing():
    assert retry_after_seconds("3", 0) == 3.0
    assert retry_after_seconds(None, 0) is None
    assert retry_after_seconds("soon", 0) is None
    assert retry_after_seconds("Thu, 01 Jan 1970 00:01:40 GMT", 40.0) == 60.0


def test_429_retry_after_gets_up_to_10_percent_jitter_and_a_cap(tmp_path, session, guest):
    clock = Clock()
    guest.signal_statuses["dep-1"] = [429, 429]
    outbox = make_outbox(tmp_path, session, guest, clock=clock, jitter=lambda: 1.0)
    put(outbox, "dep-1", {})
    assert outbox.flush() == 1
    assert outbox.pending()[0]["next_attempt_at"] == pytest.approx(clock.now + 7 * 1.1)
    guest.retry_after = "86400"  # a day: capped, so a finished result is not parked for long
    assert outbox.flush(force=True) == 1
    assert outbox.pending()[0]["next_attempt_at"] == pytest.approx(clock.now + 600 * 1.1)


def test_503_with_retry_after_is_honoured_too(tmp_path, session, guest):
    clock = Clock()
    guest.retry_after_statuses = {503}
    guest.signal_statuses["dep-1"] = [503]
    outbox = make_outbox(tmp_path, session, guest, clock=clock, jitter=lambda: 0.5)
    put(outbox, "dep-1", {})
    assert outbox.flush() == 1
    assert outbox.pending()[0]["next_attempt_at"] == pytest.approx(clock.now + 7 * 1.05)


def test_other_failures_back_off_exponentially_with_full_jitter_up_to_the_cap(tmp_path, session, guest):
    clock = Clock()
    guest.signal_statuses["dep-1"] = [500] * 10
    draws = iter([0.5, 0.0, 1.0, 0.25] + [1.0] * 6)
    outbox = make_outbox(tmp_path, session, guest, clock=clock, jitter=lambda: next(draws))
    put(outbox, "dep-1", {})
    delays = []
    for _ in range(10):
        assert outbox.flush(force=True) == 1
        delays.append(outbox.pending()[0]["next_attempt_at"] - clock.now)
    # base 0.5 × 2^(n-1), capped at 60, times a uniform draw in [0, 1)
    assert delays == [0.25, 0.0, 2.0, 1.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]


def test_nan_in_a_queued_signal_is_sent_as_null_not_retried_forever(tmp_path, session, guest, caplog):
    """An item written before build_signal cleaned answers: requests refuses NaN itself."""
    outbox = make_outbox(tmp_path, session, guest)
    put(outbox, "dep-1", {"deploy_status_code": 0, "x": float("nan"), "y": [float("-inf")]})
    with caplog.at_level(logging.WARNING, logger="hearth.agent.outbox"):
        assert outbox.flush() == 0
    assert [s["body"] for s in guest.signals] == [{"deploy_status_code": 0, "x": None, "y": [None]}]
    assert len(guest.signal_attempts) == 1
    assert any("NaN/Infinity" in r.getMessage() for r in caplog.records)


def test_signals_go_as_utf8_json_without_ascii_escapes(tmp_path, session, guest):
    outbox = make_outbox(tmp_path, session, guest)
    text = "é" * 1000 + "日本"
    put(outbox, "dep-1", {"deploy_stdout": text})
    assert outbox.flush() == 0
    [sent] = guest.signals
    assert sent["content_type"] == "application/json; charset=utf-8"
    assert sent["body"] == {"deploy_stdout": text}
    assert sent["size"] == len(
        json.dumps({"deploy_stdout": text}, ensure_ascii=False, separators=(",", ":")).encode()
    )  # 2,026, not 6,032


def test_progress_posts_a_heartbeat_with_the_servers_credential(tmp_path, session, guest):
    outbox = make_outbox(tmp_path, session, guest)
    assert outbox.progress("dep-1", "hook script running for 30 s") == 202
    guest.progress_statuses = [503]
    assert outbox.progress("dep-1", "again", 50) == 503
    assert [(p["entry_id"], p["body"], p["authorization"]) for p in guest.progress] == [
        ("dep-1", {"message": "hook script running for 30 s", "percent": None}, f"Bearer {guest.credential}"),
        ("dep-1", {"message": "again", "percent": 50}, f"Bearer {guest.credential}"),
    ]
    assert outbox.pending() == []  # heartbeats are never queued


def test_retarget_sends_queued_signals_with_the_new_credential(tmp_path, session, guest):
    """A SIGHUP reload with a rotated credential: what is still queued goes with the new one."""
    outbox = Outbox(tmp_path / "outbox", session, guest.base_url, "stale-credential", jitter=lambda: 0.0)
    put(outbox, "dep-1", {"deploy_status_code": 0})
    outbox.retarget(guest.base_url + "/", guest.credential)
    assert outbox.flush() == 0
    assert [s["authorization"] for s in guest.signal_attempts] == [f"Bearer {guest.credential}"]
