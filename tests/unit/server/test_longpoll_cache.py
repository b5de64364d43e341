"""Long-polls at fleet scale (metadata_server/longpoll.py), over real sockets on the real
listener: a re-poll the route accepted parks without the route and without a database read, its
agent is still marked seen; polls woken together are answered from batched reads, in the route's
format; a credential revoked while its poll is parked gets no document."""

from __future__ import annotations

import json
import socket
import threading

import pytest
import sqlalchemy
from sqlalchemy import update

from engine.store.models import Credential, Server
from tests.support import start_server, stop_server, wait_for
from tests.unit.server.test_serving import add_servers, poll_request, read_answer


@pytest.fixture
def hearth(tmp_path):
    # agent_gone_grace 4: agents seen through the cache are marked every second.
    server = start_server(tmp_path, guest_rate=0, longpoll_max_wait=60, agent_gone_grace=4)
    yield server
    stop_server(server)


class Statements:
    """Every statement the server's store runs, from any thread, while counting."""

    def __init__(self, hearth) -> None:
        self.engine = hearth.service.runtime.store.engine
        self.seen: list[str] = []
        self.lock = threading.Lock()
        sqlalchemy.event.listen(self.engine, "before_cursor_execute", self._count)

    def _count(self, _conn, _cursor, statement, *_args) -> None:
        with self.lock:
            self.seen.append(statement)

    def take(self) -> list[str]:
        with self.lock:
            taken, self.seen = self.seen, []
        return taken

    def close(self) -> None:
        sqlalchemy.event.remove(self.engine, "before_cursor_execute", self._count)


def connect(hearth) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", hearth.httpd.server_port), timeout=60)
    return sock


def parked(hearth) -> int:
    sock = connect(hearth)
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        return json.loads(read_answer(sock)[2])["parked"]
    finally:
        sock.close()


def last_seen(hearth, server_id: str):
    with hearth.service.runtime.store.session() as session:
        return session.get(Server, server_id).last_seen_at


def test_a_re_poll_parks_without_the_route_or_a_read_and_its_agent_is_still_seen(hearth):
    ((server_id, secret),) = add_servers(hearth, 1)
    statements = Statements(hearth)
    sock = connect(hearth)
    try:
        sock.sendall(poll_request(server_id, secret, since=1, wait=0.3))
        status, headers, _ = read_answer(sock)
        assert status == 304 and headers["etag"] == '"1"'
        assert statements.take(), "the first poll is the route's: it authenticates in the store"
        first_seen = last_seen(hearth, server_id)
        statements.take()

        sock.sendall(poll_request(server_id, secret, since=1, wait=0.3))  # the same connection
        status, headers, body = read_answer(sock)
        assert status == 304 and headers["etag"] == '"1"' and body == b""
        assert int(headers["hearth-credential-expires-in"]) > 3000  # the credential's, counted down
        assert statements.take() == []  # neither the route nor a read: parked from the cache

        # Its agent is marked seen all the same (batched, within a second here).
        wait_for(lambda: last_seen(hearth, server_id) > first_seen, 10, 0.1, "the agent marked seen")
    finally:
        sock.close()
        statements.close()


def test_polls_woken_together_are_answered_from_batched_reads_in_the_routes_format(hearth):
    count = 150
    servers = add_servers(hearth, count)
    runtime = hearth.service.runtime
    socks = []
    try:
        for server_id, secret in servers:
            sock = connect(hearth)
            sock.sendall(poll_request(server_id, secret, since=1, wait=60))
            socks.append(sock)
        wait_for(lambda: parked(hearth) == count, 30, 0.1, "every poll parked")
        statements = Statements(hearth)
        try:
            with runtime.store.session() as session:  # every server changes in one transaction
                session.execute(
                    update(Server)
                    .where(Server.id.in_([s for s, _ in servers]))
                    .values(metadata_version=2, metadata_doc={"changed": True})
                )
            for server_id, _ in servers:  # as another replica's commit is heard: a topic, a hint
                runtime.notifier.publish("server:" + server_id, hint=2, remote=True)
            answers = [read_answer(sock) for sock in socks]
            reads = statements.take()
        finally:
            statements.close()
        for status, headers, body in answers:
            assert status == 200 and headers["etag"] == '"2"' and headers["cache-control"] == "no-store"
            assert json.loads(body) == {"version": 2, "metadata": {"changed": True}}
            assert int(headers["hearth-credential-expires-in"]) > 3000
        # Through the route that is several statements per poll; batched, a few per batch.
        assert 0 < len(reads) <= 20, len(reads)

        # The next poll, on the same connection, parks again from the cache at the new version.
        server_id, secret = servers[0]
        socks[0].sendall(poll_request(server_id, secret, since=2, wait=0.2))
        assert read_answer(socks[0])[0] == 304
    finally:
        for sock in socks:
            sock.close()


def test_a_credential_revoked_while_its_poll_is_parked_gets_no_document(hearth):
    ((server_id, secret),) = add_servers(hearth, 1)
    runtime = hearth.service.runtime
    sock = connect(hearth)
    try:
        sock.sendall(poll_request(server_id, secret, since=1, wait=0.2))
        assert read_answer(sock)[0] == 304  # accepted by the route: remembered
        sock.sendall(poll_request(server_id, secret, since=1, wait=60))
        wait_for(lambda: parked(hearth) == 1, 10, 0.05, "the re-poll parked from the cache")
        with runtime.store.session() as session:
            session.execute(
                update(Credential).where(Credential.subject_id == server_id).values(revoked_at=runtime.now())
            )
            session.execute(
                update(Server).where(Server.id == server_id).values(metadata_version=2, metadata_doc={"secret": 1})
            )
        runtime.notifier.publish("server:" + server_id, hint=2, remote=True)
        status, _, body = read_answer(sock)
        assert status == 401 and b"secret" not in body  # the route said why; no document
    finally:
        sock.close()
