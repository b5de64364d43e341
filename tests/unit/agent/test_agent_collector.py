"""agent.collectors: the registry and the hearth long-poll collector against a real stand-in server."""

import threading
import time
from types import SimpleNamespace

import pytest

from agent.collectors import NotConfigured, Unavailable, collectors, make_collectors
from agent.collectors.hearth import HearthCollector
from agent.collectors.local import LocalCollector
from agent.collectors.request import RequestCollector


def collector_for(guest, session, credential=None):
    bootstrap = SimpleNamespace(
        metadata_url=f"{guest.base_url}/guest/v1/servers/{guest.server_id}/metadata",
        credential=credential or guest.credential,
    )
    return HearthCollector(session, bootstrap)


def test_registry_is_built_by_a_function():
    assert collectors() == {"hearth": HearthCollector, "request": RequestCollector, "local": LocalCollector}
    assert collectors() is not collectors()


def test_make_collectors_keeps_the_bootstrap_order_and_skips_the_unusable(session, tmp_path):
    bootstrap = SimpleNamespace(
        collectors=("ec2", "local", "request", "hearth"),
        metadata_url="http://h/m",
        credential="c",
        sections={"local": {"path": [str(tmp_path)]}},
    )  # request: no URL
    assert [c.name for c in make_collectors(bootstrap, session)] == ["local", "hearth"]
    with pytest.raises(NotConfigured, match="no usable collector"):
        make_collectors(SimpleNamespace(collectors=("request",), sections={}), session)


def test_an_early_304_is_not_turned_into_a_busy_loop(guest, session):
    """A 304 long before ``wait`` ran out (here: a stand-in that stopped holding polls, like a
    proxy ignoring ``wait``) makes wait_for_change wait out the rest of the second."""
    collector = collector_for(guest, session)
    collector.fetch("1", 0.2)  # held 0.2 s as asked: nothing left to wait out
    began = time.monotonic()
    collector.wait_for_change(threading.Event(), 0.2)
    assert time.monotonic() - began < 0.1
    guest.close()  # from now on every poll is answered 304 at once
    assert not collector.fetch("1", 30).changed
    began = time.monotonic()
    collector.wait_for_change(threading.Event(), 30)
    assert 0.8 <= time.monotonic() - began < 3


def test_first_fetch_returns_the_document(guest, session):
    guest.set_metadata({"deployments": [{"id": "a"}], "os-collect-config": {}})
    answer = collector_for(guest, session).fetch(None, 0)
    assert answer.changed and answer.version == "2"
    assert answer.metadata == {"deployments": [{"id": "a"}], "os-collect-config": {}}
    assert guest.metadata_requests == [{"since": None, "wait": 0.0}]


def test_unchanged_version_is_304(guest, session):
    answer = collector_for(guest, session).fetch("1", 0)
    assert not answer.changed and answer.version == "1"


def test_long_poll_returns_as_soon_as_metadata_changes(guest, session):
    timer = threading.Timer(0.3, guest.set_metadata, args=({"deployments": []},))
    timer.start()
    started = time.monotonic()
    try:
        answer = collector_for(guest, session).fetch("1", 20)
    finally:
        timer.cancel()
        timer.join()
    assert answer.changed and answer.version == "2"
    assert time.monotonic() - started < 5
    assert guest.metadata_requests == [{"since": "1", "wait": 20.0}]


def test_wrong_credential_is_an_auth_failure(guest, session):
    with pytest.raises(Unavailable) as caught:
        collector_for(guest, session, credential="hgc_wrong").fetch(None, 0)
    assert caught.value.kind == "auth" and "401" in str(caught.value)
    assert "hgc_wrong" not in str(caught.value)


@pytest.mark.parametrize("status, kind, retry_after", [(503, "server", None), (429, "rate-limited", 2.0)])
def test_server_errors(guest, session, status, kind, retry_after):
    guest.metadata_statuses = [status]
    with pytest.raises(Unavailable) as caught:
        collector_for(guest, session).fetch(None, 0)
    assert (caught.value.kind, caught.value.retry_after) == (kind, retry_after)


def test_unreachable_server(session):
    bootstrap = SimpleNamespace(metadata_url="http://127.0.0.1:9/guest/v1/servers/x/metadata", credential="c")
    with pytest.raises(Unavailable) as caught:
        HearthCollector(session, bootstrap).fetch(None, 0)
    assert caught.value.kind == "network"
