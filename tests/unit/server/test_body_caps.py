"""Body caps over real HTTP: each kind of route refuses a body over its cap with a 413 that names
the limit and the setting, before reading it (declared length) or at the cap (chunked)."""

from __future__ import annotations

import socket
import time

import pytest

from metadata_server.budget import FACT_ENDPOINTS, SIGNAL_ENDPOINTS, TEMPLATE_ENDPOINTS
from tests.support import start_server, stop_server

CAPS = {"max_signal_bytes": 4096, "max_template_bytes": 16384, "max_body_bytes": 1024}
PRESIGNED = "/signal/0f0e0d0c-0000-4000-8000-000000000001?expires=4102444800&signature=forged"
# (what, path, setting): one of each kind of route.
ROUTES = [
    ("guest deployment signal", "/guest/v1/deployments/d-1/signal", "max_signal_bytes"),
    ("handle signal", "/guest/v1/handles/h-1/signal", "max_signal_bytes"),
    ("pre-signed signal", PRESIGNED, "max_signal_bytes"),
    ("stack create", "/v1/admin/stacks", "max_template_bytes"),
    ("template validation", "/v1/admin/validate", "max_template_bytes"),
    ("deployment progress", "/guest/v1/deployments/d-1/progress", "max_body_bytes"),
    ("server enrolment", "/v1/admin/servers/s-1/bootstrap", "max_body_bytes"),
    ("unknown path", "/nowhere", "max_body_bytes"),
]


def json_of_size(size: int) -> bytes:
    """A JSON object of exactly `size` bytes."""
    body = b'{"x":"' + b"a" * (size - 8) + b'"}'
    assert len(body) == size
    return body


@pytest.fixture(scope="module")
def capped(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("caps"), **CAPS)
    yield server
    stop_server(server)


def assert_refused(response, limit: int, setting: str) -> None:
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert error["code"] == "payload_too_large"
    assert str(limit) in error["message"] and setting in error["message"]
    assert f"HEARTH_{setting.upper()}" in error["message"]


@pytest.mark.parametrize("what,path,setting", ROUTES, ids=[r[0] for r in ROUTES])
def test_each_route_takes_its_cap_and_refuses_one_byte_more(capped, what, path, setting):
    limit = CAPS[setting]
    headers = {"Content-Type": "application/json"}
    at_limit = capped.http.post(capped.url + path, data=json_of_size(limit), headers=headers, timeout=10)
    assert at_limit.status_code != 413, f"{what}: {at_limit.text}"
    over = capped.http.post(capped.url + path, data=json_of_size(limit + 1), headers=headers, timeout=10)
    assert_refused(over, limit, setting)


@pytest.mark.parametrize(
    "what,path,setting", ROUTES[:3] + ROUTES[5:6], ids=["deployment", "handle", "presigned", "progress"]
)
def test_a_chunked_body_is_refused_at_the_cap(capped, what, path, setting):
    limit = CAPS[setting]

    def chunks(total):
        sent = 0
        while sent < total:
            piece = b" " * min(1000, total - sent)
            sent += len(piece)
            yield piece

    over = capped.http.post(capped.url + path, data=chunks(limit * 50), timeout=10)
    assert over.request.headers.get("Transfer-Encoding") == "chunked"
    assert_refused(over, limit, setting)
    under = capped.http.post(capped.url + path, data=chunks(limit // 2), timeout=10)
    assert under.status_code != 413, f"{what}: {under.text}"


def test_a_declared_length_over_the_cap_is_answered_without_waiting_for_the_body(capped):
    """The client declares 1 GB and sends nothing: the answer comes at once, so nothing waited
    to read (let alone hold) the body."""
    request = (
        f"POST /guest/v1/deployments/d-1/signal HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {10**9}\r\n\r\n"
    ).encode()
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", capped.httpd.server_port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer:
            piece = sock.recv(65536)
            assert piece, answer
            answer += piece
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert time.monotonic() - started < 5


def test_signals_take_heats_one_mebibyte_by_default(hearth):
    """Defaults: a signal of 1 MiB and a bit passes the cap (and is then refused for what it
    says or who sends it); one byte over max_signal_bytes (4 MiB) is not."""
    limit = hearth.config.max_signal_bytes
    assert limit >= 1024 * 1024
    for path in (r[1] for r in ROUTES[:3]):
        big = hearth.http.post(hearth.url + path, data=json_of_size(1024 * 1024 + 100), timeout=30)
        assert big.status_code != 413 and big.status_code < 500, big.text
    over = hearth.http.post(hearth.url + ROUTES[0][1], data=json_of_size(limit + 1), timeout=30)
    assert_refused(over, limit, "max_signal_bytes")


def test_every_named_endpoint_exists(hearth):
    """The caps are chosen by endpoint name: a renamed view must not silently fall to the
    small default."""
    endpoints = {rule.endpoint for rule in hearth.app.url_map.iter_rules()}
    assert SIGNAL_ENDPOINTS | TEMPLATE_ENDPOINTS | FACT_ENDPOINTS <= endpoints


def test_every_endpoint_the_auth_policy_names_exists(hearth):
    """Authorisation is also chosen by endpoint and blueprint name (orchestration_auth): a renamed
    view must not silently lose its read-only, admin-only, temp-URL or guest-token policy."""
    from metadata_server import orchestration_auth as auth

    endpoints = {rule.endpoint for rule in hearth.app.url_map.iter_rules()}
    named = auth.READ_ONLY_ENDPOINTS | auth.ADMIN_ENDPOINTS | auth.TEMP_URL_ENDPOINTS | set(auth.GUEST_TOKEN_ENDPOINTS)
    assert named <= endpoints, sorted(named - endpoints)
    blueprints = {endpoint.split(".")[0] for endpoint in endpoints}
    assert {*auth.PROJECT_BLUEPRINTS, auth.ADMIN_BLUEPRINT} <= blueprints, sorted(blueprints)
