"""The facts routes over HTTP on a real server on 127.0.0.1: the users' (index header, compare-and-set,
blocking reads, the name redirect, limits) and the guests' (a server's own prefix, 403 outside
it, the write budget), every refusal in the JSON envelope; and the agent's side against them
(`hearth-agent fact`, the facts file and variables a hook is given)."""

from __future__ import annotations

import json
import threading

import pytest
import requests

from agent.facts import FACTS_FILE_ENV, FACTS_PREFIX_ENV, FactsClient, HookFacts, fact_command
from tests.support import start_server, stop_server

TEMPLATE = """
heat_template_version: 2018-08-31
resources:
  head: {type: OS::Heat::DeployedServer, properties: {name: head}}
  node: {type: OS::Heat::DeployedServer, properties: {name: node}}
"""


@pytest.fixture
def hearth(tmp_path):
    server = start_server(tmp_path, fact_max_value_bytes=64, fact_writes_per_minute=4)
    yield server
    stop_server(server)


def refused(answer, status: int, words: str) -> None:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["code"] == status and body["error"]["traceback"] is None
    assert words in body["error"]["message"], body["error"]["message"]


def made(hearth) -> str:
    hearth.create_stack("bag", TEMPLATE)
    stack = hearth.wait_stack("bag", ("CREATE_COMPLETE",))
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    return f"{hearth.api}/stacks/bag/{stack['id']}/facts"


def test_users_set_read_block_and_compare_and_set_over_http(hearth):
    facts, http = made(hearth), hearth.http
    first = http.put(f"{facts}/cluster/size", json={"value": 3}, timeout=10)
    assert first.status_code == 200 and first.headers["X-Hearth-Index"] == "1"
    assert first.json()["modify_index"] == 1
    refused(http.put(f"{facts}/cluster/size?cas=0", json={"value": 4}, timeout=10), 409, "cas=0")
    assert http.put(f"{facts}/cluster/size?cas=1", json={"value": 4}, timeout=10).json()["index"] == 2
    refused(http.put(f"{facts}/big", json={"value": "x" * 80}, timeout=10), 413, "fact_max_value_bytes")
    refused(http.put(f"{facts}/bad", data=b'{"value": "x"' + b" " * 2000 + b"}", timeout=10), 413, "fact")
    refused(http.put(f"{facts}/a//b", json={"value": 1}, timeout=10), 400, "not a fact key")
    refused(http.put(f"{facts}/k", json={"other": 1}, timeout=10), 400, '{"value"')
    refused(http.get(f"{facts}?index=x", timeout=10), 400, "index")
    # The stack's name alone redirects to its facts, query kept, as every sub-path does.
    found = http.get(f"{hearth.api}/stacks/bag/facts?prefix=cluster/", timeout=10)
    assert found.status_code == 200 and [f["key"] for f in found.json()["facts"]] == ["cluster/size"]
    shown = http.get(f"{facts}/cluster/size", timeout=10)
    assert (shown.json()["value"], shown.headers["X-Hearth-Index"]) == (4, "2")

    # A blocking read, held until a write under its prefix.
    held: list = []
    reader = threading.Thread(
        target=lambda: held.append(http.get(f"{facts}?prefix=cluster/&index=2&wait=30", timeout=40))
    )
    reader.start()
    http.put(f"{facts}/cluster/name", json={"value": "blue"}, timeout=10)
    reader.join(20)
    assert not reader.is_alive()
    assert held[0].headers["X-Hearth-Index"] == "3" and len(held[0].json()["facts"]) == 2
    deleted = http.delete(f"{facts}/cluster/name?cas=3", timeout=10)
    assert deleted.json() == {"key": "cluster/name", "deleted": True, "index": 4}
    refused(http.delete(f"{facts}/cluster/name", timeout=10), 404, "no fact 'cluster/name'")
    refused(http.get(f"{facts}/cluster/size", headers={"X-Auth-Token": "nope"}, timeout=10), 401, "")


def test_a_server_writes_under_its_own_prefix_and_its_agent_hands_facts_to_hooks(hearth, tmp_path, monkeypatch):
    facts, http = made(hearth), hearth.http
    resources = hearth.resources("bag")
    head, node = (resources[n]["physical_resource_id"] for n in ("head", "node"))
    documents = {}
    for name, server in (("head", head), ("node", node)):
        answer = http.post(f"{hearth.api}/servers/{server}/bootstrap", json={}, timeout=10)
        documents[name] = answer.json()["bootstrap"]
        (tmp_path / f"{name}.json").write_text(json.dumps(documents[name]))
    guest = f"{hearth.url}/guest/v1/servers/{node}/facts"
    as_node = {"Authorization": f"Bearer {documents['node']['credential']}"}
    refused(http.put(f"{guest}/servers/head/x", json={"value": 1}, headers=as_node, timeout=10), 403, "servers/node/")
    refused(http.get(guest, headers={"Authorization": "Bearer nope"}, timeout=10), 401, "")
    refused(http.get(f"{hearth.url}/guest/v1/servers/{head}/facts", headers=as_node, timeout=10), 403, "does not grant")

    # `hearth-agent fact set` as a hook runs it: the key under the server's own prefix.
    monkeypatch.delenv(FACTS_PREFIX_ENV, raising=False)
    assert fact_command(["--bootstrap", str(tmp_path / "head.json"), "set", "address", "10.0.0.1"]) == 0
    assert fact_command(["--bootstrap", str(tmp_path / "head.json"), "set", "ports", "[80, 443]", "--json"]) == 0
    assert fact_command(["--bootstrap", str(tmp_path / "head.json"), "set", "servers/node/x", "1"]) == 0  # head's own
    listing = http.get(facts, timeout=10).json()
    assert {f["key"]: f["value"] for f in listing["facts"]} == {
        "servers/head/address": "10.0.0.1",
        "servers/head/ports": [80, 443],
        "servers/head/servers/node/x": "1",
    }
    assert {f["writer"] for f in listing["facts"]} == {head}
    # One write over the budget of 4 a minute: 429 with Retry-After, said on stderr.
    assert fact_command(["--bootstrap", str(tmp_path / "head.json"), "delete", "servers/node/x"]) == 0
    over = http.put(
        f"{hearth.url}/guest/v1/servers/{head}/facts/servers/head/y",
        json={"value": 1},
        headers={"Authorization": f"Bearer {documents['head']['credential']}"},
        timeout=10,
    )
    refused(over, 429, "fact_writes_per_minute")
    assert int(over.headers["Retry-After"]) >= 1

    # What node's agent gives a hook: the facts file, its own prefix, the bootstrap's path.
    with requests.Session() as session:
        client = FactsClient(session, hearth.url, node, documents["node"]["credential"])
        env = HookFacts(client, tmp_path / "facts.json", tmp_path / "node.json").environment()
    assert env[FACTS_PREFIX_ENV] == "servers/node/"
    written = json.loads((tmp_path / "facts.json").read_text())
    assert written["facts"]["servers/head/address"] == "10.0.0.1" and written["own_prefix"] == "servers/node/"
    assert env[FACTS_FILE_ENV] == str(tmp_path / "facts.json")
    # Server gone from reach: the hook gets the last facts fetched.
    with requests.Session() as session:
        client = FactsClient(session, "http://127.0.0.1:9", node, documents["node"]["credential"])
        env = HookFacts(client, tmp_path / "facts.json", None).environment()
    assert env[FACTS_PREFIX_ENV] == "servers/node/" and env[FACTS_FILE_ENV] == str(tmp_path / "facts.json")
