"""Request budgets: token buckets (pure, with a hand-driven clock) and, over real HTTP, 429 with
Retry-After per guest credential, per pre-signed URL, per client address for failed
authentications and per orchestration caller."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import requests

from engine.guest import credentials
from engine.store.models import Server
from metadata_server.budget import MemoryBudgets
from tests.support import start_server, stop_server


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_a_bucket_gives_its_burst_then_one_token_per_interval():
    clock = Clock()
    budgets = MemoryBudgets(clock)
    assert [budgets.take("a", 2.0, 3) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert budgets.take("a", 2.0, 3) == pytest.approx(0.5)
    assert budgets.wait("a", 2.0, 3) == pytest.approx(0.5)
    clock.now += 0.25
    assert budgets.take("a", 2.0, 3) == pytest.approx(0.25)
    clock.now += 0.25
    assert budgets.take("a", 2.0, 3) == 0.0
    assert budgets.take("b", 2.0, 3) == 0.0  # another key has its own bucket
    clock.now += 60
    assert [budgets.take("a", 2.0, 3) for _ in range(4)][-1] > 0  # refilled to the burst, no more


def test_wait_spends_nothing():
    budgets = MemoryBudgets(Clock())
    assert [budgets.wait("a", 1.0, 2) for _ in range(5)] == [0.0] * 5
    assert budgets.take("a", 1.0, 2) == 0.0 and budgets.take("a", 1.0, 2) == 0.0
    assert budgets.wait("a", 1.0, 2) == pytest.approx(1.0)


def test_refilled_buckets_are_forgotten_when_there_are_too_many():
    clock = Clock()
    budgets = MemoryBudgets(clock, max_keys=10)
    for n in range(10):
        budgets.take(f"idle-{n}", 1.0, 5)
    clock.now += 10  # all idle ones are full again
    budgets.take("busy", 1.0, 5)
    budgets.take("busy", 1.0, 5)
    budgets.take("new", 1.0, 5)
    assert len(budgets) == 2
    assert budgets.take("busy", 1.0, 5) == 0.0 and budgets.wait("busy", 1.0, 2) == pytest.approx(0.0)


# -- over HTTP ------------------------------------------------------------------------


def enrol(server) -> tuple[str, dict]:
    """A server row and a credential of its own: (metadata URL, auth headers)."""
    runtime = server.service.runtime
    server_id = str(uuid.uuid4())
    with runtime.store.session() as session:
        session.add(
            Server(
                id=server_id,
                name="s",
                project="admin",
                driver="deployed",
                metadata_doc={"deployments": []},
                created_at=runtime.now(),
            )
        )
        secret = credentials.issue(
            session, kind="server", subject_id=server_id, stack_id=None, now=runtime.now(), ttl_seconds=600
        )
    return f"{server.url}/guest/v1/servers/{server_id}/metadata", {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def serve(tmp_path):
    """Start a real server with these settings (one per test; stopped afterwards)."""
    started = []

    def start(**settings):
        started.append(start_server(tmp_path / str(len(started)), **settings))
        return started[-1]

    yield start
    for server in started:
        stop_server(server)


@pytest.fixture
def budgeted(serve):
    return serve(guest_rate=2.0, guest_burst=3, auth_failure_rate=0.01, auth_failure_burst=3)


def test_a_guest_over_its_budget_gets_429_and_retry_after_and_others_do_not(budgeted):
    url_a, auth_a = enrol(budgeted)
    url_b, auth_b = enrol(budgeted)
    for _ in range(3):
        assert budgeted.http.get(url_a, headers=auth_a, timeout=10).status_code == 200
    refused = budgeted.http.get(url_a, headers=auth_a, timeout=10)
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "too_many_requests"
    assert "guest_rate" in refused.json()["error"]["message"]
    retry_after = int(refused.headers["Retry-After"])
    assert retry_after == 1  # half a second at 2 a second, rounded up
    # Server A's burst spent nothing of server B's.
    assert [budgeted.http.get(url_b, headers=auth_b, timeout=10).status_code for _ in range(3)] == [200] * 3
    time.sleep(retry_after)  # what a client told Retry-After does; the behaviour under test
    assert budgeted.http.get(url_a, headers=auth_a, timeout=10).status_code == 200


def test_a_long_poll_costs_one_request_however_long_it_is_held(serve):
    server = serve(guest_rate=0.01, guest_burst=3, longpoll_max_wait=1)
    url, auth = enrol(server)
    version = server.http.get(url, headers=auth, timeout=10).json()["version"]
    started = time.monotonic()
    held = server.http.get(url, params={"since": version, "wait": 30}, headers=auth, timeout=20)
    assert held.status_code == 304 and time.monotonic() - started >= 0.8
    assert server.http.get(url, headers=auth, timeout=10).status_code == 200
    assert server.http.get(url, headers=auth, timeout=10).status_code == 429


def test_pre_signed_urls_are_budgeted_each_by_its_own_signature(serve):
    """A forged signature spends its own bucket, not the one of the URL it imitates."""
    server = serve(guest_rate=0.01, guest_burst=3, auth_failure_rate=0.0)
    base = f"{server.url}/signal/{uuid.uuid4()}?expires=4102444800&signature="
    # Plain requests: as a guest sends them, with no token besides the URL.
    statuses = [requests.post(base + "forged-1", json={}, timeout=10).status_code for _ in range(4)]
    assert 429 not in statuses[:3] and statuses[3] == 429, statuses
    assert "pre-signed URL" in requests.post(base + "forged-1", json={}, timeout=10).json()["error"]["message"]
    assert requests.post(base + "forged-2", json={}, timeout=10).status_code != 429


def test_failed_authentications_slow_the_address_down(budgeted):
    url, auth = enrol(budgeted)
    for n in range(3):
        bad = budgeted.http.get(url, headers={"Authorization": f"Bearer guess-{n}"}, timeout=10)
        assert bad.status_code == 401
    blocked = budgeted.http.get(url, headers={"Authorization": "Bearer guess-4"}, timeout=10)
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) >= 1
    assert "auth_failure_rate" in blocked.json()["error"]["message"]
    # The address is slowed down whatever it presents next, until the budget refills.
    assert budgeted.http.get(url, headers=auth, timeout=10).status_code == 429


def test_the_orchestration_api_has_a_budget_of_its_own(serve):
    """Per caller (its token, else its address); spending it leaves other callers and the guest
    budget alone. Whether a request is authorised does not matter to the count."""
    budgeted = serve(api_rate=0.01, api_burst=3, auth_failure_rate=0.0)
    url, auth = enrol(budgeted)
    stacks = f"{budgeted.api}/stacks"
    statuses = [budgeted.http.get(stacks, timeout=10).status_code for _ in range(4)]  # the admin token
    assert 429 not in statuses[:3] and statuses[3] == 429, statuses
    refused = budgeted.http.get(stacks, timeout=10)
    assert "api_rate" in refused.json()["error"]["message"] and int(refused.headers["Retry-After"]) >= 1
    other = {"X-Auth-Token": "not-a-real-token-but-its-own-bucket"}
    assert requests.get(stacks, headers=other, timeout=10).status_code != 429
    assert requests.get(stacks, timeout=10).status_code != 429  # no token: the address's bucket
    assert budgeted.http.get(url, headers=auth, timeout=10).status_code == 200


def test_zero_turns_the_budgets_off(serve):
    server = serve(guest_rate=0.0, guest_burst=1, auth_failure_rate=0.0, auth_failure_burst=1)
    url, auth = enrol(server)
    assert {server.http.get(url, headers=auth, timeout=10).status_code for _ in range(5)} == {200}
    bad = {"Authorization": "Bearer nope"}
    assert {server.http.get(url, headers=bad, timeout=10).status_code for _ in range(5)} == {401}


def test_both_listeners_of_one_engine_share_the_budgets(budgeted):
    """Serving the guest API on a listener of its own must not double a guest's budget."""
    from metadata_server import create_app
    from metadata_server.serving import listen

    guest_app = create_app(budgeted.config, budgeted.service, orchestration=False)
    assert guest_app.extensions["hearth_budgets"] is budgeted.app.extensions["hearth_budgets"]
    httpd = listen("127.0.0.1", 0, guest_app)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url, auth = enrol(budgeted)
        other = url.replace(budgeted.url, f"http://127.0.0.1:{httpd.server_port}")
        statuses = [budgeted.http.get(u, headers=auth, timeout=10).status_code for u in (url, other, url, other)]
        assert statuses == [200, 200, 200, 429]
    finally:
        httpd.shutdown()
        httpd.server_close()
