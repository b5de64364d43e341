"""The metadata long-poll over real HTTP: since/ETag, 304, wake on change, server-capped wait."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from engine.guest import credentials, metadata as guest_metadata
from engine.store.models import Server
from tests.support import start_server, stop_server


@pytest.fixture
def guest(tmp_path):
    server = start_server(tmp_path, longpoll_max_wait=2)
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
    url = f"{server.url}/guest/v1/servers/{server_id}/metadata"
    yield server, url, {"Authorization": f"Bearer {secret}"}, server_id
    stop_server(server)


def change(server, server_id):
    runtime = server.service.runtime
    with runtime.store.session() as session:
        guest_metadata.push_metadata(session, server_id)
    runtime.publish_server(server_id)


def test_first_fetch_then_304_until_changed(guest):
    server, url, auth, server_id = guest
    first = server.http.get(url, headers=auth, timeout=10)
    assert first.status_code == 200
    version = first.json()["version"]
    assert first.headers["ETag"] == f'"{version}"'
    assert first.json()["metadata"] == {"deployments": []}
    assert server.http.get(url, params={"since": version}, headers=auth, timeout=10).status_code == 304
    matched = server.http.get(url, headers={**auth, "If-None-Match": f'"{version}"'}, timeout=10)
    assert matched.status_code == 304
    change(server, server_id)
    after = server.http.get(url, params={"since": version}, headers=auth, timeout=10)
    assert after.status_code == 200 and after.json()["version"] == version + 1


def test_long_poll_returns_when_the_metadata_changes(guest):
    server, url, auth, server_id = guest
    version = server.http.get(url, headers=auth, timeout=10).json()["version"]
    timer = threading.Timer(0.3, change, (server, server_id))
    timer.start()
    started = time.monotonic()
    response = server.http.get(url, params={"since": version, "wait": 30}, headers=auth, timeout=40)
    elapsed = time.monotonic() - started
    timer.join()
    assert response.status_code == 200 and response.json()["version"] == version + 1
    assert elapsed < 1.9  # woken by the change, not by the (2 s) cap


def test_wait_is_capped_by_the_server(guest):
    server, url, auth, _ = guest
    version = server.http.get(url, headers=auth, timeout=10).json()["version"]
    started = time.monotonic()
    response = server.http.get(url, params={"since": version, "wait": 3600}, headers=auth, timeout=30)
    assert response.status_code == 304
    assert 1.5 <= time.monotonic() - started < 10
