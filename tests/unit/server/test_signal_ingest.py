"""Deployment signals stored by the ASGI front in batches (metadata_server/ingest.py and
GuestService.signal_deployments), over real sockets on the real listener, on SQLite and
PostgreSQL: answered as the route answers, stored before the answer, many in one transaction,
and whatever a batch does not take is refused by the route with its reason."""

from __future__ import annotations

import json
import socket
import threading

import pytest
import sqlalchemy
from sqlalchemy import select, update

from engine.store.models import AuditEvent, Credential, Deployment, Server
from tests.support import start_server, stop_server
from tests.unit.server.test_serving import add_servers, read_answer

RESULT = {"deploy_stdout": "ok\n", "deploy_stderr": "", "deploy_status_code": 0, "result": "fine"}


@pytest.fixture
def hearth(tmp_path, db_url):
    server = start_server(tmp_path, db_url=db_url, guest_rate=0)
    yield server
    stop_server(server)


def deployments(hearth, count: int, servers: list[tuple[str, str]] | None = None) -> list[tuple[str, str, str]]:
    """`count` deployments IN_PROGRESS spread over `servers` (new ones by default), as Heat's API
    makes them: [(entry id the signal goes to, server id, server credential)]."""
    servers = servers or add_servers(hearth, count)
    software = hearth.service.software
    made = []
    for n in range(count):
        server_id, secret = servers[n % len(servers)]
        config = software.create_software_config(
            "admin", {"name": f"c{n}", "group": "script", "config": "true", "outputs": [{"name": "result"}]}
        )
        software.create_software_deployment(
            "admin", {"server_id": server_id, "config_id": config["id"], "action": "CREATE", "status": "IN_PROGRESS"}
        )
        made.append((config["id"], server_id, secret))
    return made


def signal_request(entry_id: str, secret: str, body: dict) -> bytes:
    data = json.dumps(body).encode()
    return (
        f"POST /guest/v1/deployments/{entry_id}/signal HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {secret}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    ).encode() + data


def send(hearth, entry_id: str, secret: str, body: dict) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", hearth.httpd.server_port), timeout=30) as sock:
        sock.sendall(signal_request(entry_id, secret, body))
        return read_answer(sock)


def stored(hearth, entry_id: str) -> Deployment:
    with hearth.service.runtime.store.session() as session:
        deployment = session.scalar(select(Deployment).where(Deployment.config_id == entry_id))
        session.expunge(deployment)
        return deployment


def test_a_signal_is_stored_before_its_answer_which_is_the_routes_byte_for_byte(hearth):
    (first, server_id, secret), (second, _, other_secret) = deployments(hearth, 2)
    status, headers, body = send(hearth, first, secret, RESULT)
    # The same signal for a twin deployment through the Flask route itself (no front).
    route = hearth.app.test_client().post(
        f"/guest/v1/deployments/{second}/signal", json=RESULT, headers={"Authorization": f"Bearer {other_secret}"}
    )
    assert (status, body) == (route.status_code, route.get_data())
    assert headers["content-type"] == route.headers["Content-Type"]
    assert json.loads(body) == {"status": "COMPLETE", "status_reason": "Outputs received"}
    deployment = stored(hearth, first)  # read after the answer: it was committed before it
    assert deployment.status == "COMPLETE" and deployment.output_values["result"] == "fine"
    with hearth.service.runtime.store.session() as session:
        server = session.get(Server, server_id)
        assert server.last_seen_at is not None and server.first_contact_at is not None


def test_signals_sent_at_once_are_each_answered_and_stored(hearth):
    made = deployments(hearth, 30)
    answers: list[tuple[int, bytes]] = []
    lock = threading.Lock()

    def agent(entry_id: str, secret: str) -> None:
        status, _, body = send(hearth, entry_id, secret, {**RESULT, "result": entry_id})
        with lock:
            answers.append((status, body))

    threads = [threading.Thread(target=agent, args=(entry_id, secret)) for entry_id, _, secret in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(status for status, _ in answers) == [200] * 30
    for entry_id, _, _ in made:
        deployment = stored(hearth, entry_id)
        assert (deployment.status, deployment.output_values["result"]) == ("COMPLETE", entry_id)


def test_a_batch_costs_the_same_statements_whatever_its_size(hearth):
    made = deployments(hearth, 45, add_servers(hearth, 9))
    statements: list[str] = []
    engine = hearth.service.runtime.store.engine
    caller = threading.get_ident()

    def count(_conn, _cursor, statement, *_args) -> None:
        # The batch's own statements: the engine's other threads (the scheduler, the sweeps of
        # event sinks and facts) use the same pool meanwhile.
        if threading.get_ident() == caller:
            statements.append(statement)

    sqlalchemy.event.listen(engine, "before_cursor_execute", count)
    try:
        guest = hearth.service.guest
        small = guest.signal_deployments([(secret, entry, RESULT) for entry, _, secret in made[:5]])
        for_five, statements[:] = len(statements), []
        large = guest.signal_deployments([(secret, entry, RESULT) for entry, _, secret in made[5:]])
        for_forty = len(statements)
    finally:
        sqlalchemy.event.remove(engine, "before_cursor_execute", count)
    assert [a["status"] for a in small + large] == ["COMPLETE"] * 45
    # Reads in bulk, updates and events in bulk (an executemany is one cursor execute).
    assert for_forty == for_five <= 8


def test_what_a_batch_does_not_take_is_left_unstored_for_the_route(hearth):
    made = deployments(hearth, 6)
    (good, _, secret), (revoked_entry, revoked_server, revoked), (foreign, _, _), (dead_body, _, dead_secret) = made[:4]
    with hearth.service.runtime.store.session() as session:
        session.execute(
            update(Credential)
            .where(Credential.subject_id == revoked_server)
            .values(revoked_at=hearth.service.runtime.now())
        )
    answers = hearth.service.guest.signal_deployments(
        [
            (secret, good, RESULT),
            (revoked, revoked_entry, RESULT),
            (secret, foreign, RESULT),  # another server's deployment
            (secret, "no-such-entry", RESULT),
            (secret, good, {**RESULT, "result": "again"}),  # a second signal for one deployment
            (dead_secret, dead_body, ["not", "an", "object"]),
        ]
    )
    assert answers[0] == {"status": "COMPLETE", "status_reason": "Outputs received"}
    assert answers[1:] == [None] * 5
    assert stored(hearth, good).output_values["result"] == "fine"
    for entry in (revoked_entry, foreign, dead_body):
        assert stored(hearth, entry).status == "IN_PROGRESS"


def test_the_route_refuses_over_the_listener_what_the_batch_left(hearth):
    (entry, _, secret), (neighbours, _, neighbour_secret) = deployments(hearth, 2)
    assert send(hearth, entry, secret, RESULT)[0] == 200
    # The same result again: the route's idempotent answer; another result: its conflict.
    status, _, body = send(hearth, entry, secret, RESULT)
    assert status == 200 and json.loads(body)["status"] == "COMPLETE"
    status, _, body = send(hearth, entry, secret, {**RESULT, "deploy_status_code": 2})
    assert status == 409 and "already finished as COMPLETE" in json.loads(body)["error"]["message"]
    # A neighbour's credential: the route's 403, recorded in the audit log by credential id.
    status, _, body = send(hearth, entry, neighbour_secret, RESULT)
    assert status == 403 and "deployment's own server" in json.loads(body)["error"]["message"]
    with hearth.service.runtime.store.session() as session:
        neighbour_id = session.scalar(
            select(Credential.id).where(Credential.subject_id == stored(hearth, neighbours).server_id)
        )
        assert session.scalars(select(AuditEvent.actor).where(AuditEvent.action == "auth.failed")).all() == [
            neighbour_id
        ]
    assert stored(hearth, neighbours).status == "IN_PROGRESS"


def test_a_credential_over_its_request_budget_gets_the_routes_429(tmp_path):
    hearth = start_server(tmp_path, guest_rate=0.01, guest_burst=2)
    try:
        made = deployments(hearth, 3, add_servers(hearth, 1))
        answers = [send(hearth, entry, secret, RESULT) for entry, _, secret in made]
        assert [status for status, _, _ in answers] == [200, 200, 429]
        assert "Retry-After".lower() in answers[2][1] and "guest_rate" in json.loads(answers[2][2])["error"]["message"]
        assert stored(hearth, made[2][0]).status == "IN_PROGRESS"
    finally:
        stop_server(hearth)
