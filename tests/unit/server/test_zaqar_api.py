"""Zaqar's queue API for ZAQAR_MESSAGE and ZAQAR_SIGNAL (engine/guest/queues.py,
metadata_server/guest/zaqar.py) over real HTTP against a real server, on SQLite and PostgreSQL:
the requests python-zaqarclient makes (its paths, headers and bodies), Zaqar's answers and
errors, the pop that keeps the latest document, its progress events written once, the signal
posted on a deployment's queue, rotation of the queue user, and the refusals. The stock clients
themselves run in tests/e2e/test_zaqar_transport.py."""

from __future__ import annotations

import datetime as dt
import uuid

import requests
from sqlalchemy import update

from engine.guest.transports.zaqar import QUEUE_NAME, queue_name
from engine.store.models import Credential
from tests.support import wait_for

QUEUED = """
heat_template_version: 2018-08-31
resources:
  machine:
    type: OS::Heat::DeployedServer
    properties: {software_config_transport: ZAQAR_MESSAGE}
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      outputs: [{name: greeting}]
      config: "#!/bin/sh\\necho hi\\n"
  deploy:
    type: OS::Heat::SoftwareDeployment
    properties: {config: {get_resource: config}, server: {get_resource: machine},
                 signal_transport: ZAQAR_SIGNAL}
outputs:
  occ: {value: {get_attr: [machine, os_collect_config]}}
  greeting: {value: {get_attr: [deploy, greeting]}}
"""
CLIENT = {"Client-ID": uuid.uuid4().hex}  # zaqarclient sends a UUID without dashes


def login(hearth, user_id: str, password: str, project: str = "admin") -> tuple[str, dict]:
    body = {
        "auth": {
            "identity": {"methods": ["password"], "password": {"user": {"id": user_id, "password": password}}},
            "scope": {"project": {"id": project}},
        }
    }
    answer = requests.post(f"{hearth.url}/identity/v3/auth/tokens", json=body, timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.headers["X-Subject-Token"], answer.json()["token"]


def messaging(catalog: list[dict]) -> str:
    (service,) = [s for s in catalog if s["type"] == "messaging"]
    return next(e["url"] for e in service["endpoints"] if e["interface"] == "public")


def headers(token: str, project: str = "admin") -> dict:
    return {"X-Auth-Token": token, "X-Project-Id": project, **CLIENT}


def entry_inputs(doc: dict) -> dict:
    (entry,) = doc["deployments"]
    return {item["name"]: item["value"] for item in entry["inputs"]}


def test_queue_names_fit_zaqar():
    long = "a-stack.with.dots" * 10
    name = queue_name(f"{long}-my server", "0f9d3c1e-8a2b-4c5d-9e6f-123456789abc")
    assert QUEUE_NAME.match(name) and len(name) == 64 and name.endswith("-0f9d3c1e8a2b")
    assert queue_name("ok-name", "abc") == "ok-name-abc"
    assert queue_name("...", "0f9d3c1e-8a2b") == "0f9d3c1e8a2b"


def test_metadata_pop_signal_post_and_refusals(hearth_on):
    hearth = hearth_on
    hearth.create_stack("queued", QUEUED)
    wait_for(lambda: hearth.resources("queued")["machine"]["resource_status"] == "CREATE_COMPLETE", 30)
    occ = hearth.outputs("queued")["occ"]
    assert occ["collectors"] == ["zaqar", "local"]
    section = occ["zaqar"]
    assert section["auth_url"] == f"{hearth.url}/identity/v3" and section["project_id"] == "admin"
    assert QUEUE_NAME.match(section["queue_id"]) and section["password"].startswith("hgs_")
    token, body = login(hearth, section["user_id"], section["password"])
    endpoint = messaging(body["catalog"])
    assert endpoint == f"{hearth.url}/messaging"
    queue = f"{endpoint}/v2/queues/{section['queue_id']}"

    # Zaqar's checks come first, in its words, with the envelope beside them.
    missing = requests.put(queue, headers={"X-Auth-Token": token}, timeout=10)
    assert missing.status_code == 400 and "Client-ID" in missing.json()["description"], missing.text
    assert missing.json()["title"] == "Bad Request"
    too_long = requests.put(f"{endpoint}/v2/queues/{'q' * 65}", headers=headers(token), timeout=10)
    assert too_long.status_code == 400 and "64" in too_long.json()["description"]
    assert requests.put(f"{endpoint}/v1/queues/x", headers=headers(token), timeout=10).status_code == 400
    # create and exists: Hearth made the queue.
    assert requests.put(queue, headers=headers(token), timeout=10).status_code == 204
    assert requests.head(queue, headers=headers(token), timeout=10).status_code == 204

    # The pop answers the latest document, and keeps it: the same message again. The deployment's
    # entry is pushed after the machine completes: its "Queued" event (the push's own unit of
    # work) says it is there to pop.
    wait_for(lambda: any(r.startswith("Queued: ") for r in hearth.event_reasons("queued")), 30)
    pop = f"{queue}/messages?pop=1"
    first = requests.delete(pop, headers=headers(token), timeout=10)
    assert first.status_code == 200, first.text
    (message,) = first.json()["messages"]
    assert set(message) == {"id", "age", "ttl", "body", "claim_count", "claim_id"} and message["ttl"] == 3600
    doc = message["body"]
    assert doc["os-collect-config"]["zaqar"] == section
    values = entry_inputs(doc)
    assert values["deploy_signal_transport"] == "ZAQAR_SIGNAL" and "deploy_signal_id" not in values
    assert QUEUE_NAME.match(values["deploy_queue_id"]) and values["deploy_auth_url"] == section["auth_url"]
    again = requests.delete(pop, headers=headers(token), timeout=10).json()["messages"]
    assert [m["id"] for m in again] == [message["id"]] and again[0]["body"] == doc
    reasons = hearth.event_reasons("queued")
    assert sum(r.startswith("Queued: ") for r in reasons) == 1, reasons
    assert sum(r.startswith("Popped: ") for r in reasons) == 1, reasons  # once per version

    # Refusals: another project, a forged token, posting on the metadata queue.
    assert requests.delete(pop, headers=headers(token, "other"), timeout=10).status_code == 403
    forged = requests.delete(pop, headers=headers("hgk_forged"), timeout=10)
    assert forged.status_code == 401 and forged.json()["description"]
    refused = requests.post(
        f"{queue}/messages", json={"messages": [{"body": {}, "ttl": 600}]}, headers=headers(token), timeout=10
    )
    assert refused.status_code == 403 and "deploy_queue_id" in refused.json()["description"]

    # The deployment's user: its own queue only; a post there is its signal (v1.1, as
    # heat-config-notify's zaqarclient sends it).
    deploy_token, _ = login(hearth, values["deploy_user_id"], values["deploy_password"])
    signal_queue = f"{endpoint}/v1.1/queues/{values['deploy_queue_id']}"
    assert requests.delete(pop, headers=headers(deploy_token), timeout=10).status_code == 403
    signal = {"greeting": "hello over zaqar", "deploy_stdout": "hi\n", "deploy_stderr": "", "deploy_status_code": 0}
    posted = requests.post(
        f"{signal_queue}/messages",
        json={"messages": [{"body": signal, "ttl": 600}]},
        headers=headers(deploy_token),
        timeout=10,
    )
    assert posted.status_code == 201, posted.text
    (href,) = posted.json()["resources"]
    assert href.startswith(f"/messaging/v1.1/queues/{values['deploy_queue_id']}/messages/")
    stack = hearth.wait_stack("queued", ("CREATE_COMPLETE",), timeout=30)
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    assert hearth.outputs("queued")["greeting"] == "hello over zaqar"
    # Nothing is left on a signal queue; the same signal again is harmless, another is 409.
    left = requests.delete(f"{signal_queue}/messages?pop=5", headers=headers(deploy_token), timeout=10)
    assert left.status_code == 200 and left.json() == {"messages": []}
    repeat = {"messages": [{"body": signal}]}
    assert requests.post(f"{signal_queue}/messages", json=repeat, headers=headers(deploy_token), timeout=10).ok
    other = {"messages": [{"body": {**signal, "deploy_status_code": 3}}]}
    conflict = requests.post(f"{signal_queue}/messages", json=other, headers=headers(deploy_token), timeout=10)
    assert conflict.status_code == 409 and conflict.json()["description"]


def test_the_queue_user_is_replaced_before_it_expires(shared_hearth):
    hearth = shared_hearth
    hearth.create_stack("rotated", QUEUED)
    wait_for(lambda: hearth.resources("rotated")["machine"]["resource_status"] == "CREATE_COMPLETE", 30)
    section = hearth.outputs("rotated")["occ"]["zaqar"]
    token, _ = login(hearth, section["user_id"], section["password"])
    pop = f"{hearth.url}/messaging/v2/queues/{section['queue_id']}/messages?pop=1"
    before = requests.delete(pop, headers=headers(token), timeout=10).json()["messages"][0]
    assert before["body"]["os-collect-config"]["zaqar"]["user_id"] == section["user_id"]

    # Two thirds of its life gone (the credential row's clock moved back, as time would).
    runtime = hearth.service.runtime
    with runtime.store.session() as session:
        row = session.get(Credential, section["user_id"])
        lifetime = row.expires_at - row.created_at
        shift = lifetime * 0.7
        session.execute(
            update(Credential)
            .where(Credential.id == row.id)
            .values(created_at=row.created_at - shift, expires_at=row.expires_at - shift)
        )
    after = requests.delete(pop, headers=headers(token), timeout=10).json()["messages"][0]
    rotated = after["body"]["os-collect-config"]["zaqar"]
    assert after["id"] != before["id"] and rotated["user_id"] != section["user_id"]
    assert {k: v for k, v in rotated.items() if k not in ("user_id", "password")} == {
        k: v for k, v in section.items() if k not in ("user_id", "password")
    }
    new_token, _ = login(hearth, rotated["user_id"], rotated["password"])  # the new user works
    assert requests.delete(pop, headers=headers(new_token), timeout=10).status_code == 200
    assert requests.delete(pop, headers=headers(token), timeout=10).status_code == 200  # the old one too, to expiry
    assert dt.timedelta(0) < lifetime
