"""People sign in at /identity/v3 (engine/signin.py) on a real server (HTTP on 127.0.0.1,
SQLite): password by name and domain or by ids, the catalog naming the orchestration API, the
token's project scope and role on /v1, validation and revocation, one 401 for every wrong
part, passwords kept only as scrypt hashes, and the guests' narrow paths left as they were."""

from __future__ import annotations

import sqlite3
import threading
import uuid

import pytest
import requests

from metadata_server import create_app
from metadata_server.serving import listen
from tests.support import AUTH, free_port

NOOP = "heat_template_version: 2018-08-31\nresources:\n  nothing: {type: OS::Heat::None}\n"
PASSWORD = "correct horse battery"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def admin(server, method, path, expect=None, **kwargs):
    response = requests.request(method, f"{server.url}/admin/v1/{path}", headers=AUTH, timeout=30, **kwargs)
    if expect is not None:
        assert response.status_code == expect, response.text
    return response


def password_auth(user: dict, project: dict | None, password: str = PASSWORD) -> dict:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {**user, "password": password}}}}}
    if project is not None:
        body["auth"]["scope"] = {"project": project}
    return body


def by_name(name: str) -> dict:
    return {"name": name, "domain": {"name": "Default"}}


def sign_in(server, body, expect=201) -> requests.Response:
    response = requests.post(f"{server.url}/identity/v3/auth/tokens", json=body, timeout=30)
    assert response.status_code == expect, response.text
    return response


class People:
    """Project `a` with a member and a reader (both with passwords), project `b` apart."""

    def __init__(self, server):
        self.server = server
        self.a, self.b = unique("pa"), unique("pb")
        for project in (self.a, self.b):
            admin(server, "POST", "projects", json={"name": project}, expect=201)
        self.member, self.reader, self.nopass = unique("mem"), unique("rdr"), unique("nop")
        self.member_id = admin(
            server, "POST", "users", json={"name": self.member, "password": PASSWORD}, expect=201
        ).json()["user"]["id"]
        admin(server, "POST", "users", json={"name": self.reader, "password": PASSWORD}, expect=201)
        admin(server, "POST", "users", json={"name": self.nopass}, expect=201)
        for user, role in ((self.member, "member"), (self.reader, "reader"), (self.nopass, "member")):
            admin(server, "PUT", f"projects/{self.a}/users/{user}/roles/{role}", expect=204)

    def token(self, user: str, project: str | None = None) -> str:
        return sign_in(self.server, password_auth(by_name(user), by_name(project or self.a))).headers["X-Subject-Token"]

    def v1(self, token, method, project, path, **kwargs):
        return requests.request(
            method,
            f"{self.server.url}/v1/{project}/{path}",
            headers={"X-Auth-Token": token},
            timeout=30,
            allow_redirects=False,
            **kwargs,
        )


@pytest.fixture(scope="module")
def people(shared_hearth):
    return People(shared_hearth)


def test_discovery_documents_point_back_at_this_listener(shared_hearth):
    listed = requests.get(f"{shared_hearth.url}/identity", timeout=10)
    assert listed.status_code == 300
    [v3] = listed.json()["versions"]["values"]
    assert v3["id"].startswith("v3.") and v3["links"] == [{"rel": "self", "href": f"{shared_hearth.url}/identity/v3/"}]
    assert requests.get(f"{shared_hearth.url}/identity/v3", timeout=10).json() == {"version": v3}


def test_password_sign_in_by_names_gives_a_scoped_token_and_heats_catalog(people):
    response = sign_in(people.server, password_auth(by_name(people.member), by_name(people.a)))
    token = response.headers["X-Subject-Token"]
    body = response.json()["token"]
    assert token.startswith("hat_") and response.headers["Cache-Control"] == "no-store"
    assert body["methods"] == ["password"]
    assert body["user"] == {
        "id": people.member_id,
        "name": people.member,
        "domain": {"id": "default", "name": "Default"},
        "password_expires_at": None,
    }
    assert body["project"] == {"id": people.a, "name": people.a, "domain": {"id": "default", "name": "Default"}}
    assert sorted(r["name"] for r in body["roles"]) == ["member", "reader"]
    services = {s["type"]: s for s in body["catalog"]}
    assert {(e["interface"], e["region"], e["url"]) for e in services["orchestration"]["endpoints"]} == {
        (interface, "RegionOne", f"{people.server.url}/v1/{people.a}") for interface in ("public", "internal", "admin")
    }
    assert services["identity"]["endpoints"][0]["url"] == f"{people.server.url}/identity"
    # The orchestration API takes it as X-Auth-Token, for its project only.
    assert (
        people.v1(token, "POST", people.a, "stacks", json={"stack_name": unique("s"), "template": NOOP}).status_code
        == 201
    )
    assert people.v1(token, "GET", people.a, "stacks").status_code == 200
    assert people.v1(token, "GET", people.b, "stacks").status_code == 403


def test_password_sign_in_by_ids(people):
    body = password_auth({"id": people.member_id}, {"id": people.a})
    token = sign_in(people.server, body).headers["X-Subject-Token"]
    assert people.v1(token, "GET", people.a, "stacks").status_code == 200


def test_every_wrong_part_gets_the_same_keystone_401(people):
    wrong = [
        password_auth(by_name(people.member), by_name(people.a), "not the password"),
        password_auth(by_name(unique("nobody")), by_name(people.a)),
        password_auth({"name": people.member, "domain": {"name": "Other"}}, by_name(people.a)),
        password_auth({"name": people.member, "domain": {"id": "other"}}, by_name(people.a)),
        password_auth(by_name(people.nopass), by_name(people.a), ""),
        password_auth(by_name(people.nopass), by_name(people.a)),
        password_auth({"id": str(uuid.uuid4())}, {"id": people.a}),
    ]
    answers = [sign_in(people.server, body, expect=401) for body in wrong]
    assert {a.text for a in answers} == {answers[0].text}
    assert answers[0].json()["error"] == {
        "code": 401,
        "title": "Unauthorized",
        "message": "The request you have made requires authentication.",
    }
    assert all("X-Subject-Token" not in a.headers for a in answers)


def test_no_role_in_the_project_is_401_and_malformed_requests_are_400(people):
    refused = sign_in(people.server, password_auth(by_name(people.member), by_name(people.b)), expect=401)
    assert refused.json()["error"]["code"] == 401
    unscoped = sign_in(people.server, password_auth(by_name(people.member), None), expect=400)
    assert "project-scoped" in unscoped.json()["error"]["message"]
    nameless = sign_in(people.server, password_auth({"name": people.member}, by_name(people.a)), expect=400)
    assert "domain" in nameless.json()["error"]["message"]
    assert PASSWORD not in nameless.text
    sign_in(people.server, {"auth": {"identity": {"methods": ["totp"]}}}, expect=400)


def test_a_readers_token_reads_only(people):
    token = people.token(people.reader)
    assert people.v1(token, "GET", people.a, "stacks").status_code == 200
    assert (
        people.v1(token, "POST", people.a, "stacks", json={"stack_name": unique("s"), "template": NOOP}).status_code
        == 403
    )


def test_validation_and_revocation(people):
    token, other = people.token(people.member), people.token(people.reader)
    url = f"{people.server.url}/identity/v3/auth/tokens"
    shown = requests.get(url, headers={"X-Auth-Token": token, "X-Subject-Token": token}, timeout=10)
    assert shown.status_code == 200 and shown.headers["X-Subject-Token"] == token
    assert shown.json()["token"]["user"]["name"] == people.member
    assert requests.head(url, headers={"X-Auth-Token": token, "X-Subject-Token": token}, timeout=10).status_code == 200
    # Another person's token: not theirs to see or revoke; the cloud admin may.
    assert requests.get(url, headers={"X-Auth-Token": other, "X-Subject-Token": token}, timeout=10).status_code == 403
    assert requests.get(url, headers={**AUTH, "X-Subject-Token": token}, timeout=10).status_code == 200
    assert (
        requests.get(url, headers={"X-Auth-Token": "hat_nope", "X-Subject-Token": token}, timeout=10).status_code == 401
    )
    assert (
        requests.delete(url, headers={"X-Auth-Token": token, "X-Subject-Token": token}, timeout=10).status_code == 204
    )
    assert people.v1(token, "GET", people.a, "stacks").status_code == 401
    assert requests.get(url, headers={"X-Auth-Token": other, "X-Subject-Token": token}, timeout=10).status_code == 404


def test_a_new_password_revokes_signed_in_tokens_and_the_old_one_stops(shared_hearth):
    user, project = unique("pw"), unique("pp")
    admin(shared_hearth, "POST", "projects", json={"name": project}, expect=201)
    admin(shared_hearth, "POST", "users", json={"name": user}, expect=201)
    admin(shared_hearth, "PUT", f"projects/{project}/users/{user}/roles/member", expect=204)
    short = admin(shared_hearth, "PUT", f"users/{user}/password", json={"password": "short"}, expect=400)
    assert "short" not in short.text
    admin(shared_hearth, "PUT", f"users/{user}/password", json={"password": PASSWORD}, expect=204)
    token = sign_in(shared_hearth, password_auth(by_name(user), by_name(project))).headers["X-Subject-Token"]
    admin(shared_hearth, "PUT", f"users/{user}/password", json={"password": PASSWORD + "!"}, expect=204)
    headers = {"X-Auth-Token": token}
    assert requests.get(f"{shared_hearth.url}/v1/{project}/stacks", headers=headers, timeout=10).status_code == 401
    sign_in(shared_hearth, password_auth(by_name(user), by_name(project)), expect=401)
    sign_in(shared_hearth, password_auth(by_name(user), by_name(project), PASSWORD + "!"))
    admin(shared_hearth, "DELETE", f"users/{user}/password", expect=204)
    sign_in(shared_hearth, password_auth(by_name(user), by_name(project), PASSWORD + "!"), expect=401)
    listed = {u["name"]: u for u in admin(shared_hearth, "GET", "users", expect=200).json()["users"]}
    assert listed[user]["password"] == "none"


def test_passwords_are_kept_only_as_scrypt_hashes_and_never_audited(people):
    people.token(people.member)
    sign_in(people.server, password_auth(by_name(people.member), by_name(people.a), "guess-" + PASSWORD), expect=401)
    db = sqlite3.connect(people.server.config.db_url.removeprefix("sqlite:///"))
    try:
        [(stored,)] = db.execute("select password_hash from users where name = ?", (people.member,)).fetchall()
        dump = "\n".join(db.iterdump())
    finally:
        db.close()
    assert stored.startswith("scrypt$15$8$3$") and PASSWORD not in dump
    events = admin(people.server, "GET", "audit?limit=1000", expect=200).json()["events"]
    assert any(e["action"] == "keystone.token" for e in events)
    assert any(e["action"] == "auth.failed" and (e["detail"] or {}).get("api") == "keystone" for e in events)
    assert PASSWORD not in str(events)


def test_a_persons_token_does_not_reach_the_guest_api(people):
    token = people.token(people.member)
    for headers in ({"Authorization": f"Bearer {token}"}, {"X-Auth-Token": token}):
        response = requests.get(
            f"{people.server.url}/guest/v1/servers/{uuid.uuid4()}/metadata", headers=headers, timeout=10
        )
        assert response.status_code == 401, response.text


def test_a_guest_only_listener_signs_in_no_person(people):
    """The listener an instance network sees checks no person's password."""
    server = people.server
    guest_app = create_app(server.config, server.service, orchestration=False)
    port = free_port()
    httpd = listen("127.0.0.1", port, guest_app)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        response = requests.post(
            f"http://127.0.0.1:{port}/identity/v3/auth/tokens",
            timeout=10,
            json=password_auth(by_name(people.member), by_name(people.a)),
        )
        assert response.status_code == 401
        assert response.json()["error"]["message"] == "The request you have made requires authentication."
        assert requests.get(f"http://127.0.0.1:{port}/identity/v3", timeout=10).status_code == 200
    finally:
        httpd.shutdown()
        httpd.server_close()


def credentials_url(server, user_id: str) -> str:
    return f"{server.url}/identity/v3/users/{user_id}/application_credentials"


def test_application_credentials_sign_in_to_their_project_with_their_role(people):
    token = people.token(people.member)
    url = credentials_url(people.server, people.member_id)
    made = requests.post(
        url,
        headers={"X-Auth-Token": token},
        timeout=30,
        json={"application_credential": {"name": "ci", "roles": [{"name": "reader"}]}},
    )
    assert made.status_code == 201, made.text
    credential = made.json()["application_credential"]
    assert credential["project_id"] == people.a and [r["name"] for r in credential["roles"]] == ["reader"]
    secret = credential["secret"]
    by_id = {
        "auth": {
            "identity": {
                "methods": ["application_credential"],
                "application_credential": {"id": credential["id"], "secret": secret},
            }
        }
    }
    signed = sign_in(people.server, by_id)
    body = signed.json()["token"]
    assert body["methods"] == ["application_credential"] and body["project"]["id"] == people.a
    assert body["application_credential"]["id"] == credential["id"]
    assert [r["name"] for r in body["roles"]] == ["reader"]
    ci = signed.headers["X-Subject-Token"]
    assert people.v1(ci, "GET", people.a, "stacks").status_code == 200
    assert (
        people.v1(ci, "POST", people.a, "stacks", json={"stack_name": unique("s"), "template": NOOP}).status_code == 403
    )
    by_name_ = {
        "auth": {
            "identity": {
                "methods": ["application_credential"],
                "application_credential": {"name": "ci", "secret": secret, "user": by_name(people.member)},
            }
        }
    }
    assert sign_in(people.server, by_name_).json()["token"]["user"]["id"] == people.member_id
    wrong = {
        "auth": {
            "identity": {
                "methods": ["application_credential"],
                "application_credential": {"id": credential["id"], "secret": secret + "x"},
            }
        }
    }
    assert (
        sign_in(people.server, wrong, expect=401).json()["error"]["message"]
        == "The request you have made requires authentication."
    )
    # It cannot make credentials itself, nor be made with more than the user holds.
    assert (
        requests.post(
            url, headers={"X-Auth-Token": ci}, timeout=30, json={"application_credential": {"name": "again"}}
        ).status_code
        == 403
    )
    reader_token = people.token(people.reader)
    reader_id = sign_in(people.server, password_auth(by_name(people.reader), by_name(people.a))).json()["token"][
        "user"
    ]["id"]
    assert (
        requests.post(
            credentials_url(people.server, reader_id),
            headers={"X-Auth-Token": reader_token},
            timeout=30,
            json={"application_credential": {"name": "x", "roles": [{"name": "admin"}]}},
        ).status_code
        == 403
    )
    # Listing never shows the secret; deleting it revokes its tokens and stops its sign-in.
    listed = requests.get(url, headers={"X-Auth-Token": token}, timeout=10).json()["application_credentials"]
    assert [c["name"] for c in listed] == ["ci"] and secret not in str(listed)
    assert requests.get(url, headers={"X-Auth-Token": reader_token}, timeout=10).status_code == 403
    assert requests.delete(f"{url}/{credential['id']}", headers={"X-Auth-Token": token}, timeout=10).status_code == 204
    assert people.v1(ci, "GET", people.a, "stacks").status_code == 401
    sign_in(people.server, by_id, expect=401)
