"""The guest access matrix: one test per guest endpoint, over real HTTP against real stacks on
SQLite and PostgreSQL, walks own / another server's / another stack's / expired / revoked /
forged credentials. Only the own one succeeds; every other answer is a 401 or 403 JSON envelope
with a message that says what to do, and leaves an audit record that never holds the secret.

Credentials come from the real paths: the enrolment API (`hearth server bootstrap`, with
`revoke_previous` for the revoked one), the handle's `token` and `signal` attributes, a
deployment's `deploy_signal_id` and a deleted stack. The expired ones are issued by the engine's
own `credentials.issue` with a creation time in the past: nothing else can age a credential in
a test without waiting for a real lifetime.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
import requests
from sqlalchemy import select

from engine import audit
from engine.guest import credentials
from engine.store.crypto import hash_secret, new_secret
from engine.store.models import Credential, Deployment
from tests.support import start_server, stop_server, wait_for
from tests.unit.engine import agentless

STACK = """
heat_template_version: 2018-08-31
resources:
  config: {type: OS::Heat::SoftwareConfig, properties: {group: script, config: "#!/bin/sh\\necho hi\\n"}}
  server: {type: OS::Nova::Server, properties: {image: any, flavor: any, user_data_format: SOFTWARE_CONFIG}}
  neighbour: {type: OS::Nova::Server, properties: {image: any, flavor: any, user_data_format: SOFTWARE_CONFIG}}
  deploy: {type: OS::Heat::SoftwareDeployment, properties: {config: {get_resource: config}, server: {get_resource: server}}}
  handle: {type: OS::Heat::WaitConditionHandle}
  wait: {type: OS::Heat::WaitCondition, properties: {handle: {get_resource: handle}, count: 9, timeout: 600}}
outputs:
  token: {value: {get_attr: [handle, token]}}
  signal: {value: {get_attr: [handle, signal]}}
"""
HANDLE_ONLY = """
heat_template_version: 2018-08-31
resources:
  handle: {type: OS::Heat::WaitConditionHandle}
outputs:
  token: {value: {get_attr: [handle, token]}}
  signal: {value: {get_attr: [handle, signal]}}
"""


class World:
    """Stack `mine` (the subject of every request), stack `theirs` (alive, for another
    stack's credentials) and a deleted stack `gone` (for revoked handle URLs and tokens)."""

    def __init__(self, hearth):
        self.hearth = hearth
        self.service = hearth.service
        self.runtime = hearth.service.runtime
        # Guest requests go without the admin token that hearth.http sends to the API.
        self.guest = requests.Session()
        self.mine = self._stack("mine", STACK)
        self.theirs = self._stack("theirs", STACK)
        self.gone = self._stack("gone", HANDLE_ONLY)
        self.server = self._physical(self.mine, "server")
        self.handle = self._physical(self.mine, "handle")
        self.entry = agentless.entry_for(self.service, self.mine["id"], "CREATE")
        self.their_entry = agentless.entry_for(self.service, self.theirs["id"], "CREATE")
        revoked = self._enrol(self.server)
        self.own = self._enrol(self.server, revoke_previous=True)
        self.revoked = revoked
        self.neighbour = self._enrol(self._physical(self.mine, "neighbour"))
        self.their_server = self._enrol(self._physical(self.theirs, "server"))
        self.expired = self._expired("server", self.server)
        self.handle_token = self._output(self.mine, "token")
        self.their_token = self._output(self.theirs, "token")
        self.alarm_url = self._output(self.mine, "signal")["alarm_url"]
        self.their_alarm_url = self._output(self.theirs, "signal")["alarm_url"]
        self.expired_token = self._expired("handle", self.handle)
        self.gone_token = self._output(self.gone, "token")
        self.gone_alarm_url = self._output(self.gone, "signal")["alarm_url"]
        hearth.delete("gone")

    def _stack(self, name: str, template: str) -> dict:
        self.hearth.create_stack(name, template)
        return wait_for(lambda: self._ready(name), 30, 0.05, f"stack {name}'s resources")

    def _ready(self, name: str):
        resources = self.hearth.resources(name)
        done = all(
            r["resource_status"] in ("CREATE_COMPLETE", "CREATE_IN_PROGRESS")
            and (r["physical_resource_id"] or r["resource_name"] in ("wait", "deploy"))
            for r in resources.values()
        )
        handle_done = resources.get("handle", {}).get("resource_status") == "CREATE_COMPLETE"
        return self.hearth.stack(name) if done and handle_done else None

    def _physical(self, stack: dict, name: str) -> str:
        return self.hearth.resources(stack["stack_name"])[name]["physical_resource_id"]

    def _output(self, stack: dict, key: str):
        return self.service.stacks.show_output("admin", stack["id"], key)["output_value"]

    def _enrol(self, server_id: str, revoke_previous: bool = False) -> str:
        answer = self.hearth.http.post(
            f"{self.hearth.api}/servers/{server_id}/bootstrap", json={"revoke_previous": revoke_previous}, timeout=30
        )
        assert answer.status_code == 201, answer.text
        return answer.json()["bootstrap"]["credential"]

    def _expired(self, kind: str, subject: str) -> str:
        """A credential of the right subject whose lifetime ended an hour ago."""
        past = self.runtime.now() - dt.timedelta(hours=2)
        with self.runtime.store.session() as session:
            return credentials.issue(
                session, kind=kind, subject_id=subject, stack_id=self.mine["id"], now=past, ttl_seconds=3600
            )

    def credential_id(self, secret: str) -> str:
        with self.runtime.store.session() as session:
            return session.scalar(select(Credential.id).where(Credential.secret_hash == hash_secret(secret)))

    def last_refusal(self):
        with self.runtime.store.session() as session:
            events = audit.list_events(session, action="auth.failed", limit=1)
            return audit.as_dict(events[0]) if events else None


@pytest.fixture
def world(db_url, tmp_path):
    hearth = start_server(tmp_path, db_url, compute="deployed")
    world = World(hearth)
    yield world
    world.guest.close()
    stop_server(hearth)


def bearer(secret: str) -> dict:
    return {"headers": {"Authorization": f"Bearer {secret}"}}


def forged(prefix: str) -> str:
    return new_secret(prefix)


def with_query(url: str, **changes) -> str:
    """`url` with some of its query parameters replaced (a tampered pre-signed URL)."""
    parts = urlparse(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update({k: str(v) for k, v in changes.items()})
    return f"{parts.scheme}://{parts.netloc}{parts.path}?{urlencode(query)}"


def signature_of(url: str) -> str:
    return parse_qs(urlparse(url).query)["signature"][0]


def expires_of(url: str) -> int:
    return int(parse_qs(urlparse(url).query)["expires"][0])


def refused(
    world: World, method: str, url: str, status: int, actor: str | None, secret: str, hint: str, **request
) -> None:
    """The request is refused with `status`, a JSON envelope whose message contains `hint`,
    and an audit record naming `actor` (a credential id, or 'anonymous') and not the secret."""
    before = world.last_refusal()
    response = world.guest.request(method, url, timeout=30, **request)
    assert response.status_code == status, (url, response.text)
    error = response.json()["error"]
    assert error["code"] in ("unauthorized", "forbidden") and hint in error["message"], error
    assert secret not in response.text
    record = world.last_refusal()
    assert record is not None and record != before, "no audit record for the refusal"
    assert record["outcome"] == "denied" and record["detail"]["status"] == status
    if actor is not None:
        assert record["actor"] == actor
    assert secret not in str(record), "the audit record holds the secret"


def test_metadata_long_poll_matrix(world):
    url = f"{world.hearth.url}/guest/v1/servers/{world.server}/metadata"
    for _label, secret, status, actor, hint in [
        ("another server's", world.neighbour, 403, world.credential_id(world.neighbour), "use that one's own"),
        ("another stack's", world.their_server, 403, world.credential_id(world.their_server), "use that one's own"),
        ("expired", world.expired, 401, world.credential_id(world.expired), "bootstrap document"),
        ("revoked", world.revoked, 401, world.credential_id(world.revoked), "bootstrap document"),
        ("forged", forged("hgs_"), 401, "anonymous", "bootstrap document"),
        ("a handle's", world.handle_token, 403, world.credential_id(world.handle_token), "use that one's own"),
    ]:
        refused(world, "GET", url, status, actor, secret, hint, params={"wait": "1"}, **bearer(secret))
    refused(world, "GET", url, 401, "anonymous", "no-credential-was-sent", "Authorization: Bearer")
    own = world.guest.get(url, params={"wait": "1"}, timeout=30, **bearer(world.own))
    assert own.status_code == 200 and own.json()["metadata"]["deployments"][0]["id"] == world.entry["id"]
    assert int(own.headers["Hearth-Credential-Expires-In"]) > 0


def test_metrics_matrix(world):
    url = f"{world.hearth.url}/guest/v1/servers/{world.server}/metrics"
    body = {"json": {"metrics": [{"name": "cpu_util", "value": 1.0}]}}
    for _label, secret, status, actor, hint in [
        ("another server's", world.neighbour, 403, world.credential_id(world.neighbour), "use that one's own"),
        ("another stack's", world.their_server, 403, world.credential_id(world.their_server), "use that one's own"),
        ("expired", world.expired, 401, world.credential_id(world.expired), "bootstrap document"),
        ("revoked", world.revoked, 401, world.credential_id(world.revoked), "bootstrap document"),
        ("forged", forged("hgs_"), 401, "anonymous", "bootstrap document"),
        ("a handle's", world.handle_token, 403, world.credential_id(world.handle_token), "use that one's own"),
    ]:
        refused(world, "POST", url, status, actor, secret, hint, **body, **bearer(secret))
    refused(world, "POST", url, 401, "anonymous", "no-credential-was-sent", "Authorization: Bearer", **body)
    signed = with_query(url, expires=expires_of(world.alarm_url), signature=signature_of(world.alarm_url))
    refused(world, "POST", signed, 403, None, signature_of(world.alarm_url), "Authorization: Bearer", **body)
    own = world.guest.post(url, timeout=30, **body, **bearer(world.own))
    assert own.status_code == 200 and own.json() == {"stored": 1, "expired": 0}, own.text


def test_deployment_signal_matrix(world):
    url = f"{world.hearth.url}/guest/v1/deployments/{world.entry['id']}/signal"
    body = {"deploy_status_code": 0, "deploy_stdout": "hi"}
    for secret, status, actor, hint in [
        (world.neighbour, 403, world.credential_id(world.neighbour), "deployment's own server"),
        (world.their_server, 403, world.credential_id(world.their_server), "deployment's own server"),
        (world.expired, 401, world.credential_id(world.expired), "bootstrap document"),
        (world.revoked, 401, world.credential_id(world.revoked), "bootstrap document"),
        (forged("hgs_"), 401, "anonymous", "bootstrap document"),
        (world.handle_token, 403, world.credential_id(world.handle_token), "deployment's own server"),
    ]:
        refused(world, "POST", url, status, actor, secret, hint, json=body, **bearer(secret))
    # The pre-signed form: the other stack's signature on this path, and a tampered signature.
    signed = agentless.values(world.entry)["deploy_signal_id"]
    theirs = agentless.values(world.their_entry)["deploy_signal_id"]
    for tampered in (
        with_query(signed, signature=signature_of(theirs), expires=expires_of(theirs)),
        with_query(signed, signature=signature_of(signed)[:-2] + "AA"),
        with_query(signed, expires=expires_of(signed) + 1),
    ):
        refused(world, "POST", tampered, 403, "anonymous", signature_of(signed), "URL", json=body)
    with world.runtime.store.session() as session:
        assert session.scalars(select(Deployment.status)).all().count("IN_PROGRESS") == 2
    own = world.guest.post(url, json=body, timeout=30, **bearer(world.own))
    assert own.status_code == 200 and own.json()["status"] == "COMPLETE"


def test_progress_matrix(world):
    url = f"{world.hearth.url}/guest/v1/deployments/{world.entry['id']}/progress"
    body = {"message": "half way", "percent": 50}
    for secret, status, actor in [
        (world.neighbour, 403, world.credential_id(world.neighbour)),
        (world.their_server, 403, world.credential_id(world.their_server)),
        (world.expired, 401, world.credential_id(world.expired)),
        (world.revoked, 401, world.credential_id(world.revoked)),
        (forged("hgs_"), 401, "anonymous"),
    ]:
        refused(world, "POST", url, status, actor, secret, "credential", json=body, **bearer(secret))
    signed = agentless.values(world.entry)["deploy_signal_id"]
    progress_signed = with_query(url, expires=expires_of(signed), signature=signature_of(signed))
    refused(
        world,
        "POST",
        progress_signed,
        403,
        "anonymous",
        signature_of(signed),
        "needs the server's credential",
        json=body,
    )
    own = world.guest.post(url, json=body, timeout=30, **bearer(world.own))
    assert own.status_code == 202
    with world.runtime.store.session() as session:
        assert any((d.progress or {}).get("percent") == 50 for d in session.scalars(select(Deployment)))


def test_handle_signal_matrix(world):
    url = f"{world.hearth.url}/guest/v1/handles/{world.handle}/signal"
    for secret, status, actor, hint in [
        (world.own, 403, world.credential_id(world.own), "use that one's own"),  # a server's
        (world.their_token, 403, world.credential_id(world.their_token), "use that one's own"),
        (world.expired_token, 401, world.credential_id(world.expired_token), "bootstrap document"),
        (world.gone_token, 401, world.credential_id(world.gone_token), "bootstrap document"),  # revoked
        (forged("hgh_"), 401, "anonymous", "bootstrap document"),
    ]:
        refused(world, "POST", url, status, actor, secret, hint, json={"id": "x"}, **bearer(secret))
    own = world.guest.post(url, json={"id": "web-1", "data": "ready"}, timeout=30, **bearer(world.handle_token))
    assert own.status_code == 200 and own.json()["id"] == "web-1"


def test_presigned_handle_url_matrix(world):
    url = world.alarm_url
    past = int(dt.datetime.now(dt.UTC).timestamp()) - 16 * 60
    expired = credentials.signed_url(world.runtime.keyring, world.hearth.url, "POST", urlparse(url).path, past)
    deploy_signed = agentless.values(world.entry)["deploy_signal_id"]
    for label, candidate, hint in [
        (
            "another server's",
            with_query(url, signature=signature_of(deploy_signed), expires=expires_of(deploy_signed)),
            "altered",
        ),
        (
            "another stack's",
            with_query(url, signature=signature_of(world.their_alarm_url), expires=expires_of(world.their_alarm_url)),
            "altered",
        ),
        ("expired", expired, "expired"),
        ("revoked", world.gone_alarm_url, "was deleted"),
        ("forged", with_query(url, signature=forged("")), "altered"),
        ("tampered", with_query(url, signature=signature_of(url)[:-2] + "AA"), "altered"),
        ("tampered expiry", with_query(url, expires=expires_of(url) + 1), "altered"),
        ("no expiry", with_query(url, expires="soon"), "expires"),
    ]:
        refused(world, "POST", candidate, 403, "anonymous", signature_of(url), hint, json={"id": label})
    own = world.guest.put(url, data='{"Status": "SUCCESS", "UniqueId": "cfn-1"}', timeout=30)
    assert own.status_code == 200 and own.json()["id"] == "cfn-1"


def test_rotate_matrix(world):
    url = f"{world.hearth.url}/guest/v1/credentials/rotate"
    metadata = f"{world.hearth.url}/guest/v1/servers/{world.server}/metadata"
    for secret, actor in [
        (world.expired, world.credential_id(world.expired)),
        (world.revoked, world.credential_id(world.revoked)),
        (forged("hgs_"), "anonymous"),
    ]:
        refused(world, "POST", url, 401, actor, secret, "bootstrap document", **bearer(secret))
    refused(world, "POST", url, 401, "anonymous", "no-credential-was-sent", "Authorization: Bearer")
    signed = agentless.values(world.entry)["deploy_signal_id"]
    refused(
        world, "POST", f"{url}?{urlparse(signed).query}", 403, "anonymous", signature_of(signed), "not a signed URL"
    )
    # Another server's (or stack's) credential can only rotate itself: what it gets never
    # reaches this server.
    for secret in (world.neighbour, world.their_server):
        answer = world.guest.post(url, timeout=30, **bearer(secret))
        assert answer.status_code == 200
        refused(
            world,
            "GET",
            metadata,
            403,
            None,
            answer.json()["credential"],
            "use that one's own",
            **bearer(answer.json()["credential"]),
        )
    own = world.guest.post(url, timeout=30, **bearer(world.own))
    assert own.status_code == 200 and own.headers["Cache-Control"] == "no-store"
    fresh = own.json()["credential"]
    assert world.guest.get(metadata, timeout=30, **bearer(fresh)).status_code == 200
