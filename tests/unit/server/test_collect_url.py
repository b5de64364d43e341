"""POLL_TEMP_URL's signed collect URL over real HTTP: HEAD and GET, Last-Modified on every
change (even within one second), and refusals for forged, expired, foreign, superseded URLs
and deleted servers."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from engine.guest import metadata as guest_metadata, urls
from engine.guest.transports import temp_url
from engine.store.models import Server
from tests.support import start_server, stop_server


def add_server(runtime, *, expires_in: int | None = None) -> tuple[str, str]:
    """A server row whose metadata names its collect URL, as OS::Nova::Server writes it."""
    server_id = str(uuid.uuid4())
    now = runtime.now()
    if expires_in is None:
        url = temp_url.collect_url(runtime, server_id, now)
    else:
        epoch = int(now.replace(tzinfo=dt.UTC).timestamp()) + expires_in
        url = (
            runtime.public_url
            + urls.collect_path(server_id)
            + "?"
            + urlencode(
                {"expires": epoch, "signature": runtime.keyring.sign(f"GET\n{urls.collect_path(server_id)}\n{epoch}")}
            )
        )
    doc = {
        "deployments": [],
        "os-collect-config": {"collectors": ["ec2", "request", "local"], "request": temp_url.request_section(url)},
    }
    with runtime.store.session() as session:
        session.add(
            Server(id=server_id, name="s", project="admin", driver="deployed", metadata_doc=doc, created_at=now)
        )
    return server_id, url


@pytest.fixture
def hearth(tmp_path):
    server = start_server(tmp_path)
    yield server
    stop_server(server)


def change(runtime, server_id: str) -> None:
    with runtime.store.session() as session:
        guest_metadata.push_metadata(session, server_id)


def test_head_and_get_answer_the_raw_metadata_with_last_modified(hearth):
    runtime = hearth.service.runtime
    _server_id, url = add_server(runtime)
    head = hearth.http.head(url, timeout=10)
    get = hearth.http.get(url, timeout=10)
    assert head.status_code == 200 and head.content == b""
    assert get.status_code == 200
    body = get.json()
    assert body["deployments"] == [] and body["os-collect-config"]["request"]["metadata_url"] == url
    assert "version" not in body  # the document itself, as a Swift object holds it
    assert head.headers["Last-Modified"] == get.headers["Last-Modified"]
    parsedate_to_datetime(get.headers["Last-Modified"])  # a valid HTTP date


def test_last_modified_moves_on_every_change_even_within_one_second(hearth):
    runtime = hearth.service.runtime
    server_id, url = add_server(runtime)
    stamps = [hearth.http.head(url, timeout=10).headers["Last-Modified"]]
    for _ in range(3):  # three changes in well under a second
        change(runtime, server_id)
        stamps.append(hearth.http.head(url, timeout=10).headers["Last-Modified"])
    assert hearth.http.head(url, timeout=10).headers["Last-Modified"] == stamps[-1]  # unchanged: same
    moments = [parsedate_to_datetime(stamp) for stamp in stamps]
    assert all(later > earlier for earlier, later in itertools.pairwise(moments)), stamps


def _with(url: str, **changes) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return parts._replace(query=urlencode(query)).geturl()


def test_forged_expired_foreign_and_unsigned_urls_are_refused(hearth):
    runtime = hearth.service.runtime
    server_id, url = add_server(runtime)
    other_id, _ = add_server(runtime)
    _, expired = add_server(runtime, expires_in=-3600)  # past the 15-minute grace
    forged = _with(url, signature="A" * 43)
    later = _with(url, expires=str(int(parse_qs(urlsplit(url).query)["expires"][0]) + 1))
    foreign = url.replace(server_id, other_id)
    unsigned = url.split("?")[0]
    for bad in (forged, later, foreign, unsigned, expired):
        for method in (hearth.http.get, hearth.http.head):
            assert method(bad, timeout=10).status_code == 403, bad.split("?")[0]
    assert hearth.http.get(url, timeout=10).status_code == 200


def test_a_url_the_metadata_no_longer_names_is_refused(hearth):
    """Switching the transport away nulls `request.metadata_url`; the old URL dies with it."""
    runtime = hearth.service.runtime
    server_id, url = add_server(runtime)
    with runtime.store.session() as session:
        row = session.get(Server, server_id)
        row.metadata_doc = {**row.metadata_doc, "os-collect-config": {"request": {"metadata_url": None}}}
    assert hearth.http.get(url, timeout=10).status_code == 403


def test_a_deleted_server_revokes_its_url(hearth):
    runtime = hearth.service.runtime
    server_id, url = add_server(runtime)
    assert hearth.http.get(url, timeout=10).status_code == 200
    with runtime.store.session() as session:
        row = session.get(Server, server_id)
        row.deleted_at, row.status = runtime.now(), "DELETED"
    assert hearth.http.get(url, timeout=10).status_code == 404
    assert hearth.http.head(url, timeout=10).status_code == 404


def test_the_route_is_charged_to_the_guest_budget():
    """budget.py charges every path outside API_PREFIXES to the per-URL guest budget."""
    from metadata_server.budget import API_PREFIXES

    assert not urls.collect_path("{server_id}").startswith(API_PREFIXES)


SWITCHED = """
heat_template_version: 2018-08-31
parameters:
  transport: {type: string}
resources:
  server:
    type: OS::Heat::DeployedServer
    properties: {software_config_transport: {get_param: transport}}
outputs:
  occ: {value: {get_attr: [server, os_collect_config]}}
"""


def test_switching_the_transport_away_revokes_the_url_and_back_issues_a_new_one(hearth):
    """OS::Heat::DeployedServer (no driver process): Heat's section on create, the URL kept on
    an update that keeps the transport, nulled (and refused) when the transport changes."""

    def put(transport: str, status: str) -> dict:
        stack = hearth.stack("sw")
        answer = hearth.http.put(
            f"{hearth.api}/stacks/sw/{stack['id']}",
            timeout=30,
            json={"template": SWITCHED, "parameters": {"transport": transport}},
        )
        assert answer.status_code == 202, answer.text
        assert hearth.wait_stack("sw", (status,), timeout=30)["stack_status"] == status
        return hearth.outputs("sw")["occ"]

    hearth.create_stack("sw", SWITCHED, parameters={"transport": "POLL_TEMP_URL"})
    assert hearth.wait_stack("sw", ("CREATE_COMPLETE",), timeout=30)["stack_status"] == "CREATE_COMPLETE"
    occ = hearth.outputs("sw")["occ"]
    assert occ["collectors"] == ["request", "local"]
    url = occ["request"]["metadata_url"]
    assert hearth.http.get(url, timeout=10).json()["os-collect-config"] == occ

    away = put("POLL_SERVER_CFN", "UPDATE_COMPLETE")
    assert away["request"] == {"metadata_url": None} and "request" not in away["collectors"]
    assert hearth.http.get(url, timeout=10).status_code == 403

    back = put("POLL_TEMP_URL", "UPDATE_COMPLETE")
    assert back["request"]["metadata_url"] not in (None, url)  # even within the same second
    assert hearth.http.get(back["request"]["metadata_url"], timeout=10).status_code == 200
    assert hearth.http.get(url, timeout=10).status_code == 403
