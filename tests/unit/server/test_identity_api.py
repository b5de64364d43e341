"""Tenants, users, roles and tokens on a real server (HTTP on 127.0.0.1, SQLite): who may do
what in which project, 401/403 JSON, cross-project invisibility, the admin API, the audit of
refusals and stack delegations."""

from __future__ import annotations

import uuid

import pytest
import requests

from tests.support import AUTH

NOOP = "heat_template_version: 2018-08-31\nresources:\n  nothing: {type: OS::Heat::None}\n"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class World:
    """Two projects with one user per role in the first and a member in the second."""

    def __init__(self, server):
        self.server = server
        self.a, self.b = unique("pa"), unique("pb")
        for project in (self.a, self.b):
            self.admin("POST", "projects", json={"name": project}, expect=201)
        self.tokens = {}
        for who, project, role in (
            ("reader", self.a, "reader"),
            ("member", self.a, "member"),
            ("padmin", self.a, "admin"),
            ("other", self.b, "member"),
        ):
            name = unique(who)
            self.admin("POST", "users", json={"name": name}, expect=201)
            self.admin("PUT", f"projects/{project}/users/{name}/roles/{role}", expect=204)
            token = self.admin("POST", "tokens", json={"user": name}, expect=201).json()["token"]
            self.tokens[who] = token["token"]
            self.tokens[who + "_name"] = name

    def admin(self, method, path, *, token=None, expect=None, **kwargs):
        headers = {"X-Auth-Token": token} if token else AUTH
        response = requests.request(method, f"{self.server.url}/admin/v1/{path}", headers=headers, timeout=30, **kwargs)
        if expect is not None:
            assert response.status_code == expect, response.text
        return response

    def v1(self, who, method, project, path, **kwargs):
        headers = {"X-Auth-Token": self.tokens[who]} if who else {}
        return requests.request(
            method,
            f"{self.server.url}/v1/{project}/{path}",
            headers=headers,
            timeout=30,
            allow_redirects=False,
            **kwargs,
        )

    def create(self, who, project, name):
        return self.v1(
            who, "POST", project, "stacks", json={"stack_name": name, "template": NOOP, "template_name": "t.yaml"}
        )


@pytest.fixture(scope="module")
def world(shared_hearth):
    return World(shared_hearth)


def audit(world, action):
    return world.admin("GET", f"audit?action={action}&limit=1000", expect=200).json()["events"]


def assert_error(response, status):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == status and body["error"]["message"]
    return body


def test_no_or_a_bad_token_is_401_json_and_audited_without_the_token(world):
    before = len(audit(world, "auth.failed"))
    assert_error(requests.get(f"{world.server.url}/v1/admin/stacks", timeout=30), 401)
    bad = "hat_" + "not-a-real-token-" * 3
    body = assert_error(
        requests.get(f"{world.server.url}/v1/admin/stacks", headers={"X-Auth-Token": bad}, timeout=30), 401
    )
    assert body["error"]["type"] == "Unauthorized"
    assert_error(requests.get(f"{world.server.url}/admin/v1/users", timeout=30), 401)
    events = audit(world, "auth.failed")
    assert len(events) >= before + 3
    actors = [e["actor"] for e in events[:3]]
    assert "anonymous" in actors and any(a.startswith("token:hat_") for a in actors)
    assert all(bad not in str(e) for e in events)
    assert events[0]["remote_addr"] == "127.0.0.1" and events[0]["outcome"] == "refused"


def test_x_auth_token_and_bearer_are_both_accepted(world):
    for headers in ({"X-Auth-Token": world.tokens["reader"]}, {"Authorization": f"Bearer {world.tokens['reader']}"}):
        response = requests.get(f"{world.server.url}/v1/{world.a}/stacks", headers=headers, timeout=30)
        assert response.status_code == 200, response.text


def test_guest_routes_need_no_api_token(world):
    # A guest route answers with its own credential check, not the API token's 401 message.
    response = requests.get(f"{world.server.url}/guest/v1/servers/nope/metadata", timeout=30)
    assert response.status_code in (401, 403, 404)
    assert "X-Auth-Token" not in response.json()["error"]["message"]


def test_reader_may_read_and_validate_but_not_change(world):
    assert world.v1("reader", "GET", world.a, "stacks").status_code == 200
    assert world.v1("reader", "POST", world.a, "validate", json={"template": NOOP}).status_code == 200
    body = assert_error(world.create("reader", world.a, unique("s")), 403)
    assert "reader" in body["error"]["message"]
    stack = world.create("member", world.a, unique("s")).json()["stack"]
    path = f"stacks/{stack['stack_name']}/{stack['id']}"
    assert world.v1("reader", "GET", world.a, path).status_code == 200
    assert_error(world.v1("reader", "DELETE", world.a, path), 403)
    assert world.v1("member", "DELETE", world.a, path).status_code == 204


def test_member_changes_stacks_of_its_project_only(world):
    assert world.create("member", world.a, unique("s")).status_code == 201
    body = assert_error(world.create("member", world.b, unique("s")), 403)
    assert world.b in body["error"]["message"]
    assert_error(world.v1("member", "GET", world.b, "stacks"), 403)


def test_stacks_of_another_project_are_invisible(world):
    name = unique("secret")
    stack = world.create("member", world.a, name).json()["stack"]
    for who, project in (("other", world.b), (None, None)):
        if who is None:  # the cloud admin, addressing the wrong project
            response = requests.get(
                f"{world.server.url}/v1/{world.b}/stacks/{name}/{stack['id']}", headers=AUTH, timeout=30
            )
        else:
            response = world.v1(who, "GET", project, f"stacks/{name}/{stack['id']}")
        assert_error(response, 404)
        assert_error(world.v1("other", "GET", world.b, f"stacks/{stack['id']}"), 404)
    listed = world.v1("other", "GET", world.b, "stacks").json()["stacks"]
    assert stack["id"] not in [s["id"] for s in listed]


def test_only_a_project_admin_may_issue_server_credentials(world):
    assert_error(world.v1("member", "POST", world.a, "servers/nope/bootstrap"), 403)
    # The project admin passes authorisation: the server simply does not exist.
    assert world.v1("padmin", "POST", world.a, "servers/nope/bootstrap").status_code == 404


def test_refusals_for_a_project_are_audited(world):
    world.v1("other", "GET", world.a, "stacks")
    (event, *_) = audit(world, "auth.forbidden")
    assert event["detail"]["user"] == world.tokens["other_name"]
    assert event["subject"] == f"GET /v1/{world.a}/stacks"
    assert world.tokens["other"] not in str(event)


def test_admin_api_is_for_cloud_admins_only(world):
    for who in ("member", "padmin"):
        body = assert_error(world.admin("GET", "users", token=world.tokens[who]), 403)
        assert "admin" in body["error"]["message"]


def test_admin_api_manages_projects_users_roles_and_tokens(world):
    project, user = unique("proj"), unique("user")
    world.admin("POST", "projects", json={"name": project}, expect=201)
    assert_error(world.admin("POST", "projects", json={"name": project}), 409)
    assert project in [p["name"] for p in world.admin("GET", "projects", expect=200).json()["projects"]]
    world.admin("POST", "users", json={"name": user}, expect=201)
    world.admin("PUT", f"projects/{project}/users/{user}/roles/member", expect=204)
    assert_error(world.admin("PUT", f"projects/{project}/users/{user}/roles/owner"), 400)
    users = {u["name"]: u for u in world.admin("GET", "users", expect=200).json()["users"]}
    assert users[user]["roles"] == {project: "member"}
    token = world.admin("POST", "tokens", json={"user": user, "name": "ci"}, expect=201).json()["token"]
    secret = token["token"]
    listed = world.admin("GET", f"tokens?user={user}", expect=200).json()["tokens"]
    assert [t["id"] for t in listed] == [token["id"]] and "token" not in listed[0]
    assert secret not in str(world.admin("GET", "tokens", expect=200).json())
    ok = requests.get(f"{world.server.url}/v1/{project}/stacks", headers={"X-Auth-Token": secret}, timeout=30)
    assert ok.status_code == 200
    assert listed[0]["last_used_at"] is None
    used = world.admin("GET", f"tokens?user={user}", expect=200).json()["tokens"][0]
    assert used["last_used_at"] is not None
    world.admin("DELETE", f"projects/{project}/users/{user}/roles/member", expect=204)
    assert_error(
        requests.get(f"{world.server.url}/v1/{project}/stacks", headers={"X-Auth-Token": secret}, timeout=30), 403
    )
    world.admin("DELETE", f"tokens/{token['id']}", expect=204)
    assert_error(
        requests.get(f"{world.server.url}/v1/{project}/stacks", headers={"X-Auth-Token": secret}, timeout=30), 401
    )
    actions = [e["action"] for e in world.admin("GET", "audit?limit=20", expect=200).json()["events"]]
    assert {"token.issue", "token.revoke", "role.add", "role.remove", "project.create"} <= set(actions)
    world.admin("DELETE", f"users/{user}", expect=204)
    world.admin("DELETE", f"projects/{project}", expect=204)
    assert_error(world.admin("DELETE", f"projects/{project}"), 404)
    assert_error(world.admin("DELETE", "projects/admin"), 400)


def test_deleting_a_user_revokes_its_tokens(world):
    user = unique("gone")
    world.admin("POST", "users", json={"name": user}, expect=201)
    world.admin("PUT", f"projects/{world.a}/users/{user}/roles/reader", expect=204)
    secret = world.admin("POST", "tokens", json={"user": user}, expect=201).json()["token"]["token"]
    headers = {"X-Auth-Token": secret}
    assert requests.get(f"{world.server.url}/v1/{world.a}/stacks", headers=headers, timeout=30).status_code == 200
    world.admin("DELETE", f"users/{user}", expect=204)
    assert_error(requests.get(f"{world.server.url}/v1/{world.a}/stacks", headers=headers, timeout=30), 401)


def test_a_project_with_stacks_cannot_be_deleted(world):
    world.create("member", world.a, unique("keep"))
    body = assert_error(world.admin("DELETE", f"projects/{world.a}"), 409)
    assert "stacks" in body["error"]["message"]


def test_creating_a_stack_records_a_delegation_and_deleting_it_revokes_it(world):
    stack = world.create("member", world.a, unique("del")).json()["stack"]
    (delegation,) = world.admin("GET", f"delegations?stack_id={stack['id']}", expect=200).json()["delegations"]
    assert delegation["user"] == world.tokens["member_name"]
    assert delegation["project"] == world.a and delegation["role"] == "member"
    assert delegation["revoked_at"] is None
    path = f"stacks/{stack['stack_name']}/{stack['id']}"
    assert world.v1("member", "DELETE", world.a, path).status_code == 204
    (delegation,) = world.admin("GET", f"delegations?stack_id={stack['id']}", expect=200).json()["delegations"]
    assert delegation["revoked_at"] is not None
    assert delegation["id"] in [e["subject"] for e in audit(world, "delegation.revoke")]


def test_audit_list_filters_and_validates(world):
    assert_error(world.admin("GET", "audit?since=yesterday"), 400)
    events = world.admin("GET", "audit?limit=2", expect=200).json()["events"]
    assert len(events) == 2 and events[0]["id"] > events[1]["id"]
    older = world.admin("GET", f"audit?limit=1&marker={events[0]['id']}", expect=200).json()["events"]
    assert older[0]["id"] == events[1]["id"]
