"""agent.replicas and its users: round robin over the guest API's bases, sticky while a base
answers, backoff and spread re-polls with the jitter controlled; the collector, the source and
the outbox against two stand-in replicas (one of them stopped or a port where nothing listens)."""

import logging
import threading
import time

import pytest
import requests

from agent.cache import MetadataCache
from agent.collectors import Unavailable
from agent.collectors.hearth import HearthCollector
from agent.collectors.source import BACKOFF_CAP, Source, failure_delay, spread_wait
from agent.config import Bootstrap
from agent.outbox import Outbox
from agent.replicas import Replicas
from tests.support import free_port
from tests.unit.agent.conftest import CREDENTIAL, SERVER_ID, running_guest


def dead_url():
    """A loopback port where nothing listens: connections are refused at once."""
    return f"http://127.0.0.1:{free_port()}"


def bootstrap(*bases):
    return Bootstrap(
        server_id=SERVER_ID,
        base_url=bases[0],
        metadata_url=f"{bases[0]}/guest/v1/servers/{SERVER_ID}/metadata",
        credential=CREDENTIAL,
        base_urls=tuple(bases),
    )


# -- the choice of base ------------------------------------------------------------------


def test_a_failure_moves_to_the_next_base_round_robin_and_a_base_that_answers_stays():
    replicas = Replicas(["http://a/", "http://b", "http://c", "http://b"])
    assert replicas.bases == ("http://a", "http://b", "http://c")
    assert replicas.current == "http://a"
    replicas.answered("http://a")
    assert replicas.current == "http://a"  # sticky
    assert replicas.failed("http://a", "refused") is True
    assert replicas.current == "http://b"
    replicas.answered("http://b")
    replicas.answered("http://b")
    assert replicas.current == "http://b"
    assert replicas.failed("http://b", "HTTP 500") and replicas.current == "http://c"
    assert replicas.failed("http://c", "timeout") and replicas.current == "http://a"  # round robin


def test_a_failure_reported_about_a_base_no_longer_in_use_changes_nothing():
    replicas = Replicas(["http://a", "http://b", "http://c"])
    assert replicas.failed("http://a", "refused")  # the outbox saw it first
    assert replicas.failed("http://a", "closed") is False  # the collector's poll, a moment later
    assert replicas.current == "http://b"  # b is tried, not skipped


def test_one_base_is_never_left():
    replicas = Replicas(["http://only"])
    assert replicas.failed("http://only", "refused") is False
    assert replicas.current == "http://only"


def test_a_reload_keeps_the_base_in_use_when_it_is_still_listed():
    replicas = Replicas(["http://a", "http://b"])
    replicas.failed("http://a", "refused")
    replicas.use(["http://c", "http://b"])
    assert replicas.current == "http://b"
    replicas.use(["http://d"])
    assert replicas.current == "http://d"
    with pytest.raises(ValueError, match="at least one base URL"):
        replicas.use([])


def test_urls_under_a_base_are_moved_onto_the_one_in_use_and_others_are_not():
    replicas = Replicas(["http://a:80", "http://b"])
    assert replicas.path_of("http://a:80/guest/v1/servers/s/metadata") == "/guest/v1/servers/s/metadata"
    assert replicas.path_of("http://b/guest/v1/x?since=1") == "/guest/v1/x?since=1"
    assert replicas.path_of("http://a:8004/guest/v1/x") is None  # a prefix of the host is not a base
    assert replicas.path_of("https://elsewhere/metadata") is None


def test_each_switch_is_logged_once_and_quietly_once_every_base_failed_in_a_row(caplog):
    caplog.set_level(logging.DEBUG, logger="hearth.agent.replicas")
    replicas = Replicas(["http://a", "http://b"])
    replicas.failed("http://a", "ConnectionError")
    replicas.failed("http://a", "ConnectionError")  # a second report of the same failure
    replicas.failed("http://b", "ConnectionError", expected=True)
    for _ in range(6):  # both down: the users keep trying
        replicas.failed(replicas.current, "ConnectionError")
    loud = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert [(r.levelname, r.getMessage()) for r in loud] == [
        ("WARNING", "guest API at http://a did not answer (ConnectionError); switching to http://b"),
        ("INFO", "guest API at http://b did not answer (ConnectionError); switching to http://a"),
    ]
    caplog.clear()
    replicas.answered(replicas.current)
    assert "answered after 8 failed request(s)" in caplog.text


# -- delays ------------------------------------------------------------------------------


def test_backoff_is_full_jitter_of_a_doubling_bound_that_is_capped():
    down = Unavailable("refused")
    assert [failure_delay(n, down, lambda: 1.0) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert failure_delay(30, down, lambda: 1.0) == BACKOFF_CAP  # all down for long: no faster, no slower
    assert failure_delay(3, down, lambda: 0.25) == 0.5
    assert failure_delay(1, Unavailable("busy", kind="rate-limited", retry_after=7), lambda: 1.0) == pytest.approx(7.7)


def test_a_first_parked_poll_asks_for_between_5_and_100_percent_of_the_wait():
    assert spread_wait(55, lambda: 0.0) == pytest.approx(2.75)
    assert spread_wait(55, lambda: 1.0) == pytest.approx(55)
    assert spread_wait(55, lambda: 0.5) == pytest.approx(55 * 0.525)


# -- the hearth collector ------------------------------------------------------------------


def test_the_collector_fails_over_on_a_5xx_and_stays_with_the_base_that_answers(guest, other_guest, session):
    replicas = Replicas([guest.base_url, other_guest.base_url])
    collector = HearthCollector(session, bootstrap(guest.base_url, other_guest.base_url), replicas)
    guest.metadata_statuses = [500]
    with pytest.raises(Unavailable) as failed:
        collector.fetch(None, 0)
    assert failed.value.kind == "server"  # not a replica stopping: it never answered us
    assert replicas.current == other_guest.base_url
    for since in (None, "1", "1"):
        collector.fetch(since, 0)
    assert len(guest.metadata_requests) == 1 and len(other_guest.metadata_requests) == 3
    other_guest.metadata_statuses = [502]
    with pytest.raises(Unavailable):
        collector.fetch("1", 0)
    assert replicas.current == guest.base_url
    assert collector.fetch(None, 0).changed and len(guest.metadata_requests) == 2


def test_a_metadata_url_outside_the_bases_is_polled_as_it_is(guest, session):
    replicas = Replicas([dead_url()])
    document = Bootstrap(
        server_id=SERVER_ID,
        base_url=replicas.current,
        metadata_url=f"{guest.base_url}/guest/v1/servers/{SERVER_ID}/metadata",
        credential=CREDENTIAL,
    )
    assert HearthCollector(session, document, replicas).fetch(None, 0).changed
    assert len(guest.metadata_requests) == 1


def test_a_replica_that_stops_after_answering_is_a_move_not_a_failure(guest, session, wait_for):
    with running_guest() as first:
        replicas = Replicas([first.base_url, guest.base_url])
        collector = HearthCollector(session, bootstrap(first.base_url, guest.base_url), replicas)
        assert collector.fetch(None, 0).version == "1"
        parked = threading.Thread(target=lambda: collector.fetch("1", 30) and None)
        parked.start()
        wait_for(lambda: first.metadata_requests[1:], message="the poll parked on the first replica")
    # The stand-in answered the parked poll 304 as it closed; the next poll finds it gone.
    parked.join(10)
    assert not parked.is_alive()
    with pytest.raises(Unavailable) as moved:
        collector.fetch("1", 0)
    assert moved.value.kind == "moved"
    assert replicas.current == guest.base_url
    assert collector.fetch("1", 0).changed is False
    assert guest.metadata_requests == [{"since": "1", "wait": 0.0}]


def test_a_503_from_the_replica_that_answered_is_a_move(guest, other_guest, session):
    replicas = Replicas([guest.base_url, other_guest.base_url])
    collector = HearthCollector(session, bootstrap(guest.base_url, other_guest.base_url), replicas)
    collector.fetch(None, 0)
    guest.metadata_statuses = [503]
    with pytest.raises(Unavailable) as moved:
        collector.fetch("1", 0)
    assert moved.value.kind == "moved" and replicas.current == other_guest.base_url


# -- the source: failover and spread re-polls ----------------------------------------------


def test_the_first_parked_poll_after_start_is_spread_and_later_ones_ask_for_the_whole_wait(
    guest, session, tmp_path, wait_for
):
    replicas = Replicas([guest.base_url])
    source = Source(
        HearthCollector(session, bootstrap(guest.base_url), replicas),
        MetadataCache(tmp_path, "hearth"),
        lambda: None,
        poll_wait=0.4,
        lock=threading.Lock(),
        jitter=lambda: 0.25,
    )
    source.start()
    try:
        wait_for(lambda: len(guest.metadata_requests) >= 4, message="three parked polls")
    finally:
        source.stop()
    waits = [r["wait"] for r in guest.metadata_requests[:4]]
    assert waits == [0.0, pytest.approx(0.4 * (0.05 + 0.95 * 0.25)), 0.4, 0.4]


def test_a_source_whose_first_base_is_down_gets_its_metadata_from_the_next_and_spreads_its_first_poll(
    guest, session, tmp_path, wait_for
):
    guest.set_metadata({"from": "the second base"})
    replicas = Replicas([dead_url(), guest.base_url])
    reports = threading.Event()
    source = Source(
        HearthCollector(session, bootstrap(*replicas.bases), replicas),
        MetadataCache(tmp_path, "hearth"),
        reports.set,
        poll_wait=0.4,
        lock=threading.Lock(),
        jitter=lambda: 0.0,  # no backoff, and the shortest spread
    )
    source.start()
    try:
        wait_for(lambda: source.current, message="metadata through the second base")
        assert source.current.metadata == {"from": "the second base"}
        wait_for(lambda: len(guest.metadata_requests) >= 3, message="two parked polls")
    finally:
        source.stop()
    waits = [r["wait"] for r in guest.metadata_requests[:3]]
    assert waits == [0.0, pytest.approx(0.4 * 0.05), 0.4]  # first look, spread poll, full poll
    assert replicas.current == guest.base_url


def test_after_a_move_the_source_asks_again_at_once_elsewhere_with_a_spread_wait(
    guest, session, tmp_path, wait_for, caplog
):
    caplog.set_level(logging.INFO, logger="hearth.agent")
    with running_guest() as first:
        replicas = Replicas([first.base_url, guest.base_url])
        source = Source(
            HearthCollector(session, bootstrap(*replicas.bases), replicas),
            MetadataCache(tmp_path, "hearth"),
            lambda: None,
            poll_wait=30,
            lock=threading.Lock(),
            jitter=lambda: 0.5,
        )
        source.start()
        wait_for(lambda: len(first.metadata_requests) == 2, message="a parked poll on the first replica")
    try:
        wait_for(lambda: guest.metadata_requests, 10, message="the poll asked again on the second replica")
    finally:
        source.stop()
    assert guest.metadata_requests[0] == {"since": "1", "wait": pytest.approx(spread_wait(30, lambda: 0.5))}
    assert "source unavailable" not in caplog.text  # a replica stopping is not a failure to report
    assert "switching to " + guest.base_url in caplog.text


# -- the outbox ------------------------------------------------------------------------------


def test_a_queued_signal_is_retried_at_the_next_base(guest, session, tmp_path):
    replicas = Replicas([dead_url(), guest.base_url])
    outbox = Outbox(tmp_path / "outbox", session, replicas, CREDENTIAL, jitter=lambda: 0.0)
    outbox.publish(outbox.stage("dep-1", {"deploy_status_code": 0}))
    assert outbox.flush(deadline=time.monotonic() + 10) == 0
    assert [s["entry_id"] for s in guest.signals] == ["dep-1"]
    assert replicas.current == guest.base_url


def test_a_503_with_retry_after_from_a_replica_left_behind_is_not_waited_for(guest, other_guest, session, tmp_path):
    guest.signal_statuses["dep-1"] = [503]
    guest.retry_after, guest.retry_after_statuses = "600", {503}
    replicas = Replicas([guest.base_url, other_guest.base_url])
    outbox = Outbox(tmp_path / "outbox", session, replicas, CREDENTIAL, jitter=lambda: 0.0)
    outbox.publish(outbox.stage("dep-1", {"deploy_status_code": 0}))
    assert outbox.flush(deadline=time.monotonic() + 10) == 0
    assert len(guest.signal_attempts) == 1 and [s["entry_id"] for s in other_guest.signals] == ["dep-1"]


def test_a_heartbeat_that_cannot_reach_a_base_moves_the_next_one_on(guest, session, tmp_path):
    replicas = Replicas([dead_url(), guest.base_url])
    outbox = Outbox(tmp_path / "outbox", session, replicas, CREDENTIAL)
    with pytest.raises(requests.ConnectionError):
        outbox.progress("dep-1", "running")
    assert outbox.progress("dep-1", "still running") == 202
    assert [p["body"]["message"] for p in guest.progress] == ["still running"]
