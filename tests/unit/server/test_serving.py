"""The production listener (metadata_server/serving.py and asgi.py) over real sockets: keep-alive,
parked long-polls that hold no thread and wake on a change, bodies read within
body_read_timeout without holding the pool, HTTP-layer refusals in the envelope, and parked
polls answered at shutdown."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid

import pytest

from engine.guest import credentials, metadata as guest_metadata
from engine.store.models import Server
from metadata_server.asgi import POOL_THREADS
from tests.support import start_server, stop_server, wait_for


def add_servers(hearth, count: int) -> list[tuple[str, str]]:
    """`count` servers at metadata version 1, each with a credential: [(id, secret)]."""
    runtime = hearth.service.runtime
    now = runtime.now()
    made = []
    with runtime.store.session() as session:
        for i in range(count):
            server_id = str(uuid.uuid4())
            session.add(
                Server(
                    id=server_id,
                    name=f"s{i}",
                    project="admin",
                    driver="deployed",
                    status="ACTIVE",
                    metadata_doc={"n": i},
                    metadata_version=1,
                    created_at=now,
                )
            )
            secret = credentials.issue(
                session, kind="server", subject_id=server_id, stack_id=None, now=now, ttl_seconds=3600
            )
            made.append((server_id, secret))
    return made


def poll_request(server_id: str, secret: str, since: int = 1, wait: float = 30) -> bytes:
    return (
        f"GET /guest/v1/servers/{server_id}/metadata?since={since}&wait={wait} HTTP/1.1\r\n"
        f"Host: 127.0.0.1\r\nAuthorization: Bearer {secret}\r\n\r\n"
    ).encode()


def read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        assert piece, data
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        piece = sock.recv(65536)
        assert piece
        body += piece
    return int(lines[0].split()[1]), headers, body


@pytest.fixture
def served(tmp_path):
    server = start_server(tmp_path, body_read_timeout=0.5, guest_rate=0, longpoll_max_wait=60)
    yield server
    stop_server(server)


def test_two_requests_share_one_connection_which_stays_open(served):
    ((server_id, secret),) = add_servers(served, 1)
    with socket.create_connection(("127.0.0.1", served.httpd.server_port), timeout=10) as sock:
        for _ in range(2):
            sock.sendall(poll_request(server_id, secret, since=0, wait=0))
            status, headers, body = read_answer(sock)
            assert status == 200 and json.loads(body)["version"] == 1
            assert headers.get("connection", "").lower() != "close"
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(1)  # nothing more, and no end of stream: the connection is still open


def test_a_thousand_parked_polls_hold_no_threads_and_each_wakes_on_its_change(served):
    count = 1000
    agents = add_servers(served, count)
    threads_before = threading.active_count()
    answers: dict[str, tuple[int, bytes]] = {}
    notifier = served.service.runtime.notifier

    async def agent(server_id: str, secret: str) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.httpd.server_port)
        writer.write(poll_request(server_id, secret))
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(next(h.split(b":")[1] for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")))
        answers[server_id] = (int(head.split()[1]), await reader.readexactly(length))
        writer.close()

    async def all_agents() -> None:
        await asyncio.gather(*(agent(*each) for each in agents))

    client = threading.Thread(target=asyncio.run, args=(all_agents(),), daemon=True)
    client.start()
    wait_for(lambda: notifier.waiting() == count, 60, 0.05, f"{count} parked long-polls")
    # The server's threads: the pool's (a2wsgi's, at most POOL_THREADS) and the loop's, not one per poll.
    assert threading.active_count() - threads_before <= POOL_THREADS + 2
    assert not answers
    runtime = served.service.runtime
    with runtime.store.session() as session:
        changes = {server_id: guest_metadata.push_metadata(session, server_id) for server_id, _ in agents}
    for server_id, change in changes.items():
        runtime.publish_server(server_id, change)
    client.join(60)
    assert len(answers) == count
    assert {status for status, _ in answers.values()} == {200}
    assert all(json.loads(body)["version"] == 2 for _, body in answers.values())


def test_a_stalled_body_is_answered_408_and_holds_no_pool_thread(served):
    """More stalled bodies than the pool has threads: each gets 408 in the envelope within
    body_read_timeout, and a request sent meanwhile is answered at once."""
    port = served.httpd.server_port
    stalled = []
    started = time.monotonic()
    for _ in range(POOL_THREADS + 4):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(
            b"POST /guest/v1/deployments/d-1/signal HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b'Content-Type: application/json\r\n\r\n5\r\n{"a":'
        )
        stalled.append(sock)
    meanwhile = served.http.get(served.api + "/stacks", timeout=5)
    assert meanwhile.status_code == 200
    for sock in stalled:
        status, headers, body = read_answer(sock)
        assert status == 408
        assert headers["connection"] == "close"
        error = json.loads(body)["error"]
        assert error["code"] == "request_timeout" and "body_read_timeout" in error["message"]
        assert sock.recv(1) == b""  # and the connection closed
        sock.close()
    assert time.monotonic() - started < 0.5 + 3


def test_a_parked_poll_whose_client_goes_is_forgotten_at_once(served):
    """The listener resolves the connection's lost future (serving.py) and the parked poll
    unparks then, not at the end of its wait."""
    agents = add_servers(served, 3)
    notifier = served.service.runtime.notifier
    socks = [socket.create_connection(("127.0.0.1", served.httpd.server_port), timeout=10) for _ in agents]
    for sock, (server_id, secret) in zip(socks, agents, strict=True):
        sock.sendall(poll_request(server_id, secret, since=1, wait=60))
    wait_for(lambda: notifier.waiting() == 3, 10, 0.02, "three parked polls")
    socks[0].close()
    wait_for(lambda: notifier.waiting() == 2, 5, 0.02, "the poll of the client that went to be forgotten")
    for sock in socks[1:]:
        sock.close()
    wait_for(lambda: notifier.waiting() == 0, 5, 0.02, "every poll to be forgotten")


def test_a_request_head_that_does_not_arrive_in_time_is_answered_408_and_closed(tmp_path):
    """head_read_timeout counts from the connection and from a request's first byte; a
    connection idle between requests and a parked long-poll (its head complete) are not cut."""
    server = start_server(tmp_path, head_read_timeout=0.5, guest_rate=0, longpoll_max_wait=60)
    try:
        port = server.httpd.server_port
        ((server_id, secret),) = add_servers(server, 1)
        silent = socket.create_connection(("127.0.0.1", port), timeout=10)
        trickled = socket.create_connection(("127.0.0.1", port), timeout=10)
        trickled.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # the head never ends
        kept = socket.create_connection(("127.0.0.1", port), timeout=10)
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_answer(kept)[0] == 200
        parked = socket.create_connection(("127.0.0.1", port), timeout=10)
        parked.sendall(poll_request(server_id, secret, since=1, wait=1.5))
        for sock in (silent, trickled):
            status, headers, body = read_answer(sock)
            assert (status, headers["connection"]) == (408, "close")
            error = json.loads(body)["error"]
            assert error["code"] == "request_timeout" and "head_read_timeout" in error["message"]
            assert sock.recv(1) == b""
            sock.close()
        # Both were refused after 0.5 s: the idle keep-alive connection still serves a request,
        # and the long-poll parked for 1.5 s ends as a long-poll does.
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_answer(kept)[0] == 200
        assert read_answer(parked)[0] == 304
        kept.close()
        parked.close()
    finally:
        stop_server(server)


@pytest.mark.parametrize(
    "request_bytes, status",
    [
        (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(101)) + b"\r\n", 431),
        (b"NOT HTTP AT ALL\r\n\r\n", 400),
    ],
    ids=["request line", "too many headers", "malformed"],
)
def test_http_layer_refusals_are_json_envelopes(served, request_bytes, status):
    with socket.create_connection(("127.0.0.1", served.httpd.server_port), timeout=10) as sock:
        sock.sendall(request_bytes)
        answer, headers, body = read_answer(sock)
    assert answer == status
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["code"] == status


def test_parked_polls_are_answered_304_when_the_listener_stops(tmp_path):
    server = start_server(tmp_path, guest_rate=0)
    agents = add_servers(server, 3)
    socks = []
    try:
        for server_id, secret in agents:
            sock = socket.create_connection(("127.0.0.1", server.httpd.server_port), timeout=10)
            sock.sendall(poll_request(server_id, secret, wait=50))
            socks.append(sock)
        wait_for(lambda: server.service.runtime.notifier.waiting() == 3, 10, message="3 parked polls")
        stopping = threading.Thread(target=server.httpd.shutdown)
        started = time.monotonic()
        stopping.start()
        for sock in socks:
            status, headers, _ = read_answer(sock)
            assert status == 304 and headers["etag"] == '"1"'
            assert "hearth-credential-expires-in" in headers
        assert time.monotonic() - started < 2
        stopping.join(10)
        assert not stopping.is_alive()
    finally:
        for sock in socks:
            sock.close()
        server.httpd.server_close()
        server.service.stop()
        server.service.runtime.store.dispose()
