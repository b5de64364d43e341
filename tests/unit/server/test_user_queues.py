"""A project's own Zaqar queues (engine/user_queues.py, metadata_server/guest/zaqar.py) over real
HTTP against a real server, on SQLite and PostgreSQL: the requests python-zaqarclient's v2 API
makes for a person (create, exists, post, list with `echo`/`limit`/`marker` and its `next` link,
read and delete by id, pop), Zaqar's shapes and JSON errors, expiry, the limits, project
isolation and roles, guests and people kept to their own queues, and a pop that hands each
message out once under concurrent poppers. The real zaqarclient reads an event sink's queue in
tests/e2e/test_zaqar_event_sink.py."""

from __future__ import annotations

import datetime as dt
import threading
import uuid

import pytest
import requests
from sqlalchemy import update

from engine.store.models import UserQueueMessage
from engine.user_queues import UserQueues
from tests.support import start_server, stop_server, wait_for
from tests.unit.server.test_zaqar_api import login, messaging

PASSWORD = "correct horse battery"
MACHINE = """heat_template_version: 2018-08-31
resources:
  machine:
    type: OS::Heat::DeployedServer
    properties: {software_config_transport: ZAQAR_MESSAGE}
outputs:
  occ: {value: {get_attr: [machine, os_collect_config]}}
"""
LIMITS = {"user_queue_max_messages": 6, "user_queue_max_message_bytes": 200}


@pytest.fixture
def server(db_url, tmp_path):
    running = start_server(tmp_path, db_url, **LIMITS)
    yield running
    stop_server(running)


def admin(server, method: str, path: str, **kwargs) -> requests.Response:
    answer = server.http.request(method, f"{server.url}/admin/v1/{path}", timeout=30, **kwargs)
    assert answer.status_code in (201, 204), answer.text
    return answer


def person(server, project: str, role: str = "member") -> tuple[str, dict]:
    """A new user with `role` in `project`, signed in at /identity/v3: (token, token body)."""
    name = f"u-{uuid.uuid4().hex[:8]}"
    admin(server, "POST", "users", json={"name": name, "password": PASSWORD})
    admin(server, "PUT", f"projects/{project}/users/{name}/roles/{role}")
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": name, "domain": {"name": "Default"}, "password": PASSWORD}},
            },
            "scope": {"project": {"name": project, "domain": {"name": "Default"}}},
        }
    }
    answer = requests.post(f"{server.url}/identity/v3/auth/tokens", json=body, timeout=30)
    assert answer.status_code == 201, answer.text
    return answer.headers["X-Subject-Token"], answer.json()["token"]


class Client:
    """zaqarclient's v2 requests for one token and Client-ID."""

    def __init__(self, endpoint: str, token: str, project: str | None = None):
        self.root = f"{endpoint}/v2/queues"
        self.headers = {"X-Auth-Token": token, "Client-ID": str(uuid.uuid4())}
        if project:
            self.headers["X-Project-Id"] = project

    def __call__(self, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, f"{self.root}/{path}", headers=self.headers, timeout=30, **kwargs)

    def post(self, queue: str, *bodies, ttl: int | None = None) -> requests.Response:
        messages = [{"body": b, **({"ttl": ttl} if ttl else {})} for b in bodies]
        return self("POST", f"{queue}/messages", json={"messages": messages})


def refused(answer: requests.Response, status: int, words: str) -> None:
    """Zaqar's error shape (what zaqarclient reads) with words a person can act on."""
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert {"title", "description"} <= set(body) and words in body["description"], body


def test_a_person_uses_the_projects_own_queues_as_zaqarclient_does(server):
    admin(server, "POST", "projects", json={"name": "teal"})
    token, body = person(server, "teal")
    endpoint = messaging(body["catalog"])
    assert endpoint == f"{server.url}/messaging"  # where zaqarclient looks: service type `messaging`
    me, other = Client(endpoint, token, "teal"), Client(endpoint, token)  # the token's one project without a header

    assert me("HEAD", "events").status_code == 404
    assert me("PUT", "events").status_code == 204 and me("HEAD", "events").status_code == 204
    assert me("GET", "events").json() == {}

    posted = me.post("events", {"n": 0}, {"n": 1}, ttl=120)
    assert posted.status_code == 201, posted.text
    hrefs = posted.json()["resources"]
    assert len(hrefs) == 2 and all(h.startswith("/v2/queues/events/messages/") for h in hrefs)
    assert posted.headers["Location"].endswith(
        "/messaging/v2/queues/events/messages?ids=" + ",".join(h.rsplit("/", 1)[1] for h in hrefs)
    )
    assert other.post("events", {"n": 2}, {"n": 3}, {"n": 4}).status_code == 201  # made by another Client-ID

    # Listing: without echo a client's own are hidden; pages follow Zaqar's `next` link.
    assert [m["body"]["n"] for m in me("GET", "events/messages").json()["messages"]] == [2, 3, 4]
    page = me("GET", "events/messages?echo=true&limit=2").json()
    assert [m["body"]["n"] for m in page["messages"]] == [0, 1]
    first = page["messages"][0]
    assert set(first) == {"id", "href", "ttl", "age", "body"} and first["ttl"] == 120
    assert first["href"] == f"/v2/queues/events/messages/{first['id']}"
    seen = []
    while page["messages"]:
        seen += [m["body"]["n"] for m in page["messages"]]
        (link,) = page["links"]
        assert link["rel"] == "next" and link["href"].startswith("/v2/queues/events/messages?")
        page = requests.get(f"{endpoint}{link['href']}", headers=me.headers, timeout=30).json()
    assert seen == [0, 1, 2, 3, 4] and page["links"] == []

    # By id, then deleted by id; then pop takes the oldest, once.
    assert me("GET", f"events/messages/{first['id']}").json()["body"] == {"n": 0}
    assert [m["body"] for m in me("GET", f"events/messages?ids={first['id']}").json()["messages"]] == [{"n": 0}]
    assert me("DELETE", f"events/messages/{first['id']}").status_code == 204
    refused(me("GET", f"events/messages/{first['id']}"), 404, "does not exist")
    refused(me("GET", f"events/messages?ids={first['id']}"), 404, "No messages with IDs")
    popped = me("DELETE", "events/messages?pop=2")
    assert popped.status_code == 200 and popped.headers["Cache-Control"] == "no-store"
    assert [(m["body"], m["claim_id"]) for m in popped.json()["messages"]] == [({"n": 1}, None), ({"n": 2}, None)]
    assert [m["body"]["n"] for m in me("GET", "events/messages?echo=true").json()["messages"]] == [3, 4]
    assert me("DELETE", "events/messages?ids=" + ",".join(h.rsplit("/", 1)[1] for h in hrefs)).status_code == 204

    # Expired: never answered, and pruned by the next post to the queue.
    with server.service.runtime.store.session() as session:
        session.execute(
            update(UserQueueMessage).values(expires_at=server.service.runtime.now() - dt.timedelta(seconds=1))
        )
    assert me("GET", "events/messages?echo=true").json() == {"messages": [], "links": []}
    assert me("DELETE", "events/messages?pop=5").json() == {"messages": []}
    assert me.post("events", {"n": 5}).status_code == 201
    with server.service.runtime.store.session() as session:
        assert session.query(UserQueueMessage).count() == 1

    # Limits and Zaqar's checks, in JSON a person can act on.
    refused(me.post("events", *[{"n": i} for i in range(6)]), 409, "user_queue_max_messages")
    refused(me.post("events", {"big": "x" * 300}), 400, "user_queue_max_message_bytes")
    refused(me.post("events", {"n": 1}, ttl=30), 400, "at least 60 seconds")
    refused(me("POST", "events/messages", json={"nothing": []}), 400, "No messages")
    refused(me("GET", "events/messages?limit=50"), 400, "may not be greater than 20")
    refused(me("DELETE", "events/messages?pop=0"), 400, "pop must be a whole number")
    refused(me("DELETE", "events/messages"), 400, "pop and id parameters")
    refused(me("DELETE", "events/messages?pop=1&ids=a"), 400, "can not be used together")
    refused(me("GET", "a.b/messages"), 400, "letters, digits, underscores")


def test_projects_roles_guests_and_people_each_reach_their_own_queues(server):
    for project in ("red", "blue"):
        admin(server, "POST", "projects", json={"name": project})
    token, body = person(server, "red")
    endpoint = messaging(body["catalog"])
    red = Client(endpoint, token, "red")
    assert red.post("shared", {"from": "red"}).status_code == 201

    # Another project: its own queue of the same name, and no reach into red's.
    blue_token, _ = person(server, "blue")
    blue = Client(endpoint, blue_token, "blue")
    assert blue("GET", "shared/messages?echo=true").json()["messages"] == []
    refused(Client(endpoint, blue_token, "red")("GET", "shared/messages"), 403, "no role in project 'red'")
    # A reader reads and may not pop; no token or a forged one is 401.
    reader = Client(endpoint, person(server, "red", "reader")[0], "red")
    assert [m["body"] for m in reader("GET", "shared/messages").json()["messages"]] == [{"from": "red"}]
    refused(reader("DELETE", "shared/messages?pop=1"), 403, "may only read")
    refused(Client(endpoint, "hat_forged", "red")("GET", "shared/messages"), 401, "sign in at /identity/v3")
    # A Hearth API token of several projects names the project it means.
    cloud = Client(endpoint, server.http.headers["X-Auth-Token"])
    refused(cloud("GET", "shared/messages"), 400, "X-Project-Id")
    cloud.headers["X-Project-Id"] = "red"
    assert len(cloud("GET", "shared/messages").json()["messages"]) == 1

    # A guest token reaches its server's metadata queue and nothing of the project's own.
    server.create_stack("guest", MACHINE)
    wait_for(lambda: server.resources("guest")["machine"]["resource_status"] == "CREATE_COMPLETE", 30)
    section = server.outputs("guest")["occ"]["zaqar"]
    guest_token, _ = login(server, section["user_id"], section["password"])
    guest = Client(endpoint, guest_token, "admin")
    refused(guest("GET", "shared/messages"), 403, "listing and reading by id are for a project's own queues")
    refused(guest("DELETE", "shared/messages?pop=1"), 403, "reaches one Zaqar queue only")
    refused(guest.post("shared", {"x": 1}), 403, "reaches one Zaqar queue only")
    # A person popping the server's queue name pops the project's own queue of that name: empty,
    # and the server's document is still its collector's.
    admin_person = Client(endpoint, server.http.headers["X-Auth-Token"], "admin")
    assert admin_person("DELETE", f"{section['queue_id']}/messages?pop=1").json() == {"messages": []}
    (doc,) = guest("DELETE", f"{section['queue_id']}/messages?pop=1").json()["messages"]
    assert doc["body"]["os-collect-config"]["zaqar"]["queue_id"] == section["queue_id"]


def test_concurrent_pops_hand_each_message_out_once(service):
    queues = UserQueues(service.runtime)
    posted = [queues.post_event("admin", "work", {"body": {"n": n}, "ttl": 600}) for n in range(30)]
    got: list[str] = []
    lock = threading.Lock()

    def popper():
        while True:
            messages = queues.pop("admin", "work", 2)
            if not messages:
                return
            with lock:
                got.extend(m["id"] for m in messages)

    threads = [threading.Thread(target=popper) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(got) == sorted(posted) and len(got) == len(set(got))
