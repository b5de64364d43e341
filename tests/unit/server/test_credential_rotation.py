"""Credential rotation, expiry announcements, revocation of rotated credentials and the
pre-signed URLs' clock-skew allowance, over real HTTP on SQLite and PostgreSQL.

Time is moved by giving the running server's runtime another clock (the engine reads time only
through it); nothing else is replaced.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlparse

import pytest
import requests

from engine import audit
from engine.guest import credentials
from tests.support import start_server, stop_server, wait_for

TEMPLATE = """
heat_template_version: 2018-08-31
resources:
  server: {type: OS::Nova::Server, properties: {image: any, flavor: any}}
  handle: {type: OS::Heat::WaitConditionHandle}
outputs:
  token: {value: {get_attr: [handle, token]}}
"""
TTL, OVERLAP = 3600, 120


class Rig:
    def __init__(self, hearth):
        self.hearth, self.runtime = hearth, hearth.service.runtime
        self.guest = requests.Session()  # without the admin token hearth.http sends
        hearth.create_stack("rot", TEMPLATE)
        self.stack = hearth.wait_stack("rot", ("CREATE_COMPLETE",))
        resources = hearth.resources("rot")
        self.server = resources["server"]["physical_resource_id"]
        self.handle = resources["handle"]["physical_resource_id"]
        self.token = hearth.service.stacks.show_output("admin", self.stack["id"], "token")["output_value"]
        self.metadata_url = f"{hearth.url}/guest/v1/servers/{self.server}/metadata"
        self.rotate_url = f"{hearth.url}/guest/v1/credentials/rotate"
        self.offset = dt.timedelta()
        real = self.runtime.clock
        self.runtime.clock = lambda: real() + self.offset

    def enrol(self) -> str:
        answer = self.hearth.http.post(f"{self.hearth.api}/servers/{self.server}/bootstrap", timeout=30)
        assert answer.status_code == 201, answer.text
        return answer.json()["bootstrap"]["credential"]

    def rotate(self, secret: str) -> requests.Response:
        return self.guest.post(self.rotate_url, headers={"Authorization": f"Bearer {secret}"}, timeout=30)

    def metadata(self, secret: str, **params) -> requests.Response:
        return self.guest.get(
            self.metadata_url, params=params, timeout=30, headers={"Authorization": f"Bearer {secret}"}
        )

    def events(self, action: str) -> list[dict]:
        with self.runtime.store.session() as session:
            return [audit.as_dict(e) for e in audit.list_events(session, action=action, limit=1000)]


@pytest.fixture
def rig(db_url, tmp_path):
    hearth = start_server(tmp_path, db_url, compute="deployed", credential_ttl=TTL, credential_rotation_overlap=OVERLAP)
    rig = Rig(hearth)
    yield rig
    rig.guest.close()
    stop_server(hearth)


def parse(moment: str) -> dt.datetime:
    return dt.datetime.strptime(moment, "%Y-%m-%dT%H:%M:%S%z").replace(tzinfo=None)  # naive UTC


def test_rotation_gives_a_fresh_credential_and_both_work_during_the_overlap(rig):
    old = rig.enrol()
    before = rig.runtime.now()
    answer = rig.rotate(old)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Cache-Control"] == "no-store"
    body = answer.json()
    assert set(body) == {"credential", "expires_at", "expires_in", "previous_expires_at"}
    new = body["credential"]
    assert new != old and new.startswith("hgs_")
    assert abs(parse(body["expires_at"]) - (before + dt.timedelta(seconds=TTL))) < dt.timedelta(seconds=5)
    assert abs(parse(body["previous_expires_at"]) - (before + dt.timedelta(seconds=OVERLAP))) < dt.timedelta(seconds=5)
    assert TTL - 5 <= body["expires_in"] <= TTL
    # Both work during the overlap ...
    assert rig.metadata(old).status_code == 200 and rig.metadata(new).status_code == 200
    # ... only the new one after it; the old one's refusal is audited under its id.
    rig.offset = dt.timedelta(seconds=OVERLAP + 1)
    refused = rig.metadata(old)
    assert refused.status_code == 401 and "overlap" in refused.json()["error"]["message"]
    assert rig.metadata(new).status_code == 200
    rotated = rig.events("credential.rotate")
    assert len(rotated) == 1 and old not in str(rotated) and new not in str(rotated)
    assert rig.events("auth.failed")[0]["actor"] == rotated[0]["actor"]  # the old credential's id
    assert rotated[0]["detail"]["previous_id"] == rotated[0]["actor"]


def test_a_rotated_away_credential_cannot_rotate_again(rig):
    old = rig.enrol()
    new = rig.rotate(old).json()["credential"]
    again = rig.rotate(old)
    assert again.status_code == 409
    assert "use the newer credential" in again.json()["error"]["message"]
    record = rig.events("auth.failed")[0]
    assert record["detail"]["status"] == 409 and old not in str(record)
    assert rig.metadata(new).status_code == 200  # the refusal took nothing from the new one
    assert rig.rotate(new).status_code == 200


def test_rotation_never_extends_the_old_credential(rig):
    old = rig.enrol()
    rig.offset = dt.timedelta(seconds=TTL - 30)  # 30 s left, less than the overlap
    body = rig.rotate(old).json()
    expiry = parse(rig.metadata(old).headers["Hearth-Credential-Expires"])
    assert parse(body["previous_expires_at"]) == expiry
    assert expiry <= rig.runtime.now() + dt.timedelta(seconds=31)


def test_metadata_answers_announce_the_credential_expiry(rig):
    secret = rig.enrol()
    first = rig.metadata(secret)
    assert first.status_code == 200
    assert int(first.headers["Hearth-Credential-Lifetime"]) == TTL
    assert TTL - 5 <= int(first.headers["Hearth-Credential-Expires-In"]) <= TTL
    unchanged = rig.metadata(secret, since=first.json()["version"])
    assert unchanged.status_code == 304 and unchanged.headers["Hearth-Credential-Lifetime"] == str(TTL)


def test_handle_tokens_rotate_too(rig):
    new = rig.rotate(rig.token).json()["credential"]
    assert new.startswith("hgh_")
    url = f"{rig.hearth.url}/guest/v1/handles/{rig.handle}/signal"
    for secret in (rig.token, new):
        answer = rig.guest.post(url, json={}, headers={"X-Auth-Token": secret}, timeout=30)
        assert answer.status_code == 200, answer.text


def test_deleting_the_stack_revokes_rotated_credentials_too(rig):
    first = rig.enrol()
    second = rig.rotate(first).json()["credential"]
    third = rig.rotate(second).json()["credential"]
    handle_new = rig.rotate(rig.token).json()["credential"]
    for secret in (first, second, third):
        assert rig.metadata(secret).status_code == 200  # all inside their overlap
    rig.hearth.delete("rot")
    for secret in (first, second, third):
        assert rig.metadata(secret).status_code == 401
    for secret in (third, handle_new, rig.token):
        assert rig.rotate(secret).status_code == 401
    revoked = {e["subject"] for e in rig.events("credential.revoke")}
    issued = {e["subject"] for e in rig.events("credential.issue")}
    rotated = {e["subject"] for e in rig.events("credential.rotate")}
    assert issued | rotated <= revoked, "a credential outlived its stack"
    assert len(rotated) == 3


def test_presigned_urls_allow_fifteen_minutes_of_clock_skew_and_nothing_else(rig):
    keyring, path = rig.runtime.keyring, f"/signal/{rig.handle}"
    now = int(dt.datetime.now(dt.UTC).timestamp())

    def post(url):
        return rig.guest.post(url, json={}, timeout=30)

    assert credentials.CLOCK_SKEW_ALLOWANCE == dt.timedelta(minutes=15)
    late = credentials.signed_url(keyring, rig.hearth.url, "POST", path, now - 14 * 60)
    assert post(late).status_code == 200  # used 14 min after its expiry: still within the grace
    too_late = credentials.signed_url(keyring, rig.hearth.url, "POST", path, now - 16 * 60)
    assert post(too_late).status_code == 403 and "expired" in post(too_late).json()["error"]["message"]
    for method, signed_path, expires, sent_expires in [
        ("GET", path, now + 600, now + 600),  # signed for another method
        ("POST", path + "x", now + 600, now + 600),  # signed for another path
        ("POST", path, now + 600, now + 6000),
    ]:  # expiry changed after signing
        url = credentials.signed_url(keyring, rig.hearth.url, method, signed_path, expires)
        query = urlparse(url).query.replace(f"expires={expires}", f"expires={sent_expires}")
        answer = post(f"{rig.hearth.url}{path}?{query}")
        assert answer.status_code == 403 and "altered" in answer.json()["error"]["message"]


def test_refusals_and_issues_are_audited_without_secrets(rig):
    secret = rig.enrol()
    wait_for(lambda: rig.events("credential.issue"), 5, message="the issue record")
    issued = rig.events("credential.issue")
    assert {e["actor"] for e in issued} == {"engine"} and secret not in str(issued)
    forged = "hgs_" + "A" * 43
    assert rig.rotate(forged).status_code == 401
    record = rig.events("auth.failed")[0]
    assert record["actor"] == "anonymous" and record["detail"]["operation"] == "credential rotation"
    assert forged not in str(record) and record["remote_addr"] == "127.0.0.1"


HEAT_TRANSPORT = """
heat_template_version: 2018-08-31
resources:
  server: {type: OS::Heat::DeployedServer, properties: {software_config_transport: POLL_SERVER_HEAT}}
outputs:
  occ: {value: {get_attr: [server, os_collect_config]}}
"""


def test_a_credential_written_into_a_stock_clients_config_does_not_rotate(rig):
    # The POLL_SERVER_HEAT password sits in os-collect-config's config, which only Hearth
    # rewrites: a rotation by the guest would cut the collector off, so it is refused.
    rig.hearth.create_stack("stock", HEAT_TRANSPORT)
    stack = rig.hearth.wait_stack("stock", ("CREATE_COMPLETE",))
    heat = rig.hearth.service.stacks.show_output("admin", stack["id"], "occ")["output_value"]["heat"]
    refused = rig.rotate(heat["password"])
    assert refused.status_code == 403, refused.text
    assert "does not rotate" in refused.json()["error"]["message"]
    assert heat["password"] not in refused.text
    assert rig.events("auth.failed")[0]["actor"] == heat["user_id"]
