"""A stack tree's facts on the engine service, on SQLite and PostgreSQL: every write bumps the
tree's index, compare-and-set by index, blocking reads woken by a write under their prefix, a
server writes only under its own prefix and reads the whole tree (nested stacks included), the
published limits, facts bound to their writer, and re-runs of what reads a changed fact
(coalesced, and bounded by the hourly budget). The re-run thread is stopped where a test drives
its sweep itself, so that nothing depends on timing."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import threading

import pytest
from sqlalchemy import update

from engine.errors import Conflict, Forbidden, InvalidRequest, NotFound, PayloadTooLarge, TooManyRequests
from engine.facts import keys
from engine.guest.service import GuestAuth
from engine.store.models import FactScope, Server
from tests.support import create, settle, wait_for
from tests.unit.engine import agentless

TREE = """
heat_template_version: 2018-08-31
resources:
  head: {type: OS::Heat::DeployedServer, properties: {name: head}}
  node: {type: OS::Heat::DeployedServer, properties: {name: node}}
  inner: {type: inner.yaml}
"""
INNER = """
heat_template_version: 2018-08-31
resources:
  server: {type: OS::Heat::DeployedServer, properties: {name: inner}}
outputs:
  server: {value: {get_resource: server}}
"""

READER = """
heat_template_version: 2018-08-31
resources:
  facts: {type: OS::Hearth::Facts}
  server: {type: OS::Heat::DeployedServer}
  config:
    type: OS::Heat::SoftwareConfig
    properties: {group: script, inputs: [{name: peer}], config: "echo"}
  deployment:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {get_resource: config}
      server: {get_resource: server}
      input_values: {peer: {get_attr: [facts, servers/head/address]}}
outputs:
  all: {value: {get_attr: [facts]}}
"""


def configure(service, **settings) -> None:
    """Settings are read when used: the running service takes these from now on."""
    service.runtime.config = dataclasses.replace(service.runtime.config, **settings)


def servers(service, stack_id: str) -> dict[str, str]:
    return {r["resource_name"]: r["physical_resource_id"] for r in service.resources.list_resources("admin", stack_id)}


def bearer(service, server_id: str) -> GuestAuth:
    return GuestAuth(bearer=service.guest.issue_bootstrap("admin", server_id)["bootstrap"]["credential"])


def test_every_write_bumps_the_index_and_compare_and_set_holds_to_it(service):
    stack = create(service, "bag", TREE, files={"inner.yaml": INNER})
    assert settle(service, stack)["stack_status"] == "CREATE_COMPLETE"
    facts = service.facts
    first = facts.set_fact("admin", stack, "cluster/size", {"value": 3})
    assert (first["index"], first["create_index"], first["modify_index"]) == (1, 1, 1)
    assert facts.set_fact("admin", stack, "cluster/size", {"value": 3})["index"] == 2  # a write, same value
    assert facts.set_fact("admin", stack, "cluster/name", {"value": {"a": [1]}})["index"] == 3

    with pytest.raises(Conflict, match="cas=1 but its modify_index is 2"):
        facts.set_fact("admin", stack, "cluster/size", {"value": 4}, cas=1)
    with pytest.raises(Conflict, match="cas=0 but its modify_index is 2"):
        facts.set_fact("admin", stack, "cluster/size", {"value": 4}, cas=0)
    with pytest.raises(Conflict, match="it does not exist"):
        facts.set_fact("admin", stack, "cluster/gone", {"value": 1}, cas=7)
    assert facts.set_fact("admin", stack, "cluster/size", {"value": 4}, cas=2)["modify_index"] == 4
    assert facts.set_fact("admin", stack, "other", {"value": "x"}, cas=0)["create_index"] == 5

    listing = facts.list_facts("admin", stack, prefix="cluster/")
    assert listing["index"] == 5
    assert [(f["key"], f["value"], f["writer"]) for f in listing["facts"]] == [
        ("cluster/name", {"a": [1]}, None),
        ("cluster/size", 4, None),
    ]
    assert facts.delete_fact("admin", stack, "cluster/size", cas=4) == {
        "key": "cluster/size",
        "deleted": True,
        "index": 6,
    }
    with pytest.raises(NotFound, match="no fact 'cluster/size'"):
        facts.show_fact("admin", stack, "cluster/size")
    with pytest.raises(NotFound, match="no fact 'cluster/size'"):
        facts.delete_fact("admin", stack, "cluster/size")
    # A refused write gives its index back: the next one is 7.
    assert facts.set_fact("admin", stack, "cluster/size", {"value": 5})["index"] == 7
    with pytest.raises(InvalidRequest, match="is not a fact key"):
        facts.set_fact("admin", stack, "a//b", {"value": 1})
    with pytest.raises(InvalidRequest, match=re.escape('{"value": <any JSON value>}')):
        facts.set_fact("admin", stack, "a", {"val": 1})


def test_a_server_writes_under_its_own_prefix_and_reads_its_whole_tree(service):
    stack = create(service, "tree", TREE, files={"inner.yaml": INNER})
    assert settle(service, stack)["stack_status"] == "CREATE_COMPLETE"
    ids = servers(service, stack)
    inner_stack = ids["inner"]
    inner = servers(service, inner_stack)["server"]
    head, node, nested = bearer(service, ids["head"]), bearer(service, ids["node"]), bearer(service, inner)
    guest = service.guest.facts

    written = guest.set_fact(head, ids["head"], "servers/head/address", {"value": "10.0.0.1", "bound": True})
    assert (written["writer"], written["bound"]) == (ids["head"], True)
    # A server in a nested stack writes into the same tree's facts, under its own name.
    guest.set_fact(nested, inner, "servers/inner/ready", {"value": True})
    seen = guest.list_facts(node, ids["node"])
    assert seen["own_prefix"] == "servers/node/"
    assert {f["key"]: f["value"] for f in seen["facts"]} == {
        "servers/head/address": "10.0.0.1",
        "servers/inner/ready": True,
    }
    # The users' door reaches the same facts through the root or the nested stack.
    assert service.facts.list_facts("admin", inner_stack)["index"] == seen["index"] == 2

    with pytest.raises(Forbidden, match="only under its own prefix 'servers/node/'"):
        guest.set_fact(node, ids["node"], "servers/head/address", {"value": "evil"})
    with pytest.raises(Forbidden, match="only under its own prefix"):
        guest.delete_fact(node, ids["node"], "servers/head/address")
    with pytest.raises(Forbidden, match="does not grant access to that server"):
        guest.list_facts(node, ids["head"])  # another server's route
    with pytest.raises(Forbidden):
        guest.set_fact(GuestAuth(expires="1", signature="forged"), ids["head"], "servers/head/x", {"value": 1})
    assert service.facts.show_fact("admin", stack, "servers/head/address")["value"] == "10.0.0.1"
    # Each refusal is in the audit log, naming the credential by id, never by its secret.
    refused = [
        e
        for e in service.admin.list_audit(action=None, since=None, limit=100, marker=None)
        if "fact" in str(e.get("detail"))
    ]
    assert refused and node.bearer not in str(refused)


def test_a_blocking_read_returns_when_its_prefix_changes(service):
    stack = create(service, "watch", TREE, files={"inner.yaml": INNER})
    assert settle(service, stack)["stack_status"] == "CREATE_COMPLETE"
    start = service.facts.set_fact("admin", stack, "servers/node/ready", {"value": False})["index"]
    answers: list[dict] = []
    reader = threading.Thread(
        target=lambda: answers.append(
            service.facts.list_facts("admin", stack, prefix="servers/head/", index=start, wait=20)
        )
    )
    reader.start()
    # Elsewhere in the tree: not what the reader waits for.
    service.facts.set_fact("admin", stack, "servers/node/ready", {"value": True})
    wrote = service.facts.set_fact("admin", stack, "servers/head/address", {"value": "10.0.0.9"})["index"]
    reader.join(15)
    assert not reader.is_alive(), "the blocking read was not woken by the write under its prefix"
    (answer,) = answers
    assert answer["index"] >= wrote
    assert [f["key"] for f in answer["facts"]] == ["servers/head/address"]
    # Nothing newer than what the reader has: a short wait runs out and answers the same.
    again = service.facts.list_facts("admin", stack, prefix="servers/head/", index=answer["index"], wait=0.2)
    assert again["index"] == answer["index"]
    # A deletion under the prefix is a change too.
    service.facts.delete_fact("admin", stack, "servers/head/address")
    gone = service.facts.list_facts("admin", stack, prefix="servers/head/", index=answer["index"], wait=20)
    assert gone["facts"] == [] and gone["index"] > answer["index"]


def test_the_published_limits_are_answered_with_what_to_do(service):
    stack = create(service, "limits", TREE, files={"inner.yaml": INNER})
    assert settle(service, stack)["stack_status"] == "CREATE_COMPLETE"
    configure(service, fact_max_value_bytes=16, fact_max_keys_per_stack=2, fact_writes_per_minute=3)
    head_id = servers(service, stack)["head"]
    head = bearer(service, head_id)
    guest = service.guest.facts
    with pytest.raises(PayloadTooLarge, match=r"18 bytes of JSON; at most 16 .*fact_max_value_bytes"):
        service.facts.set_fact("admin", stack, "big", {"value": "x" * 16})
    guest.set_fact(head, head_id, "servers/head/a", {"value": 1})
    guest.set_fact(head, head_id, "servers/head/b", {"value": 2})
    with pytest.raises(InvalidRequest, match=r"already holds 2 facts.*fact_max_keys_per_stack"):
        service.facts.set_fact("admin", stack, "c", {"value": 3})
    guest.set_fact(head, head_id, "servers/head/a", {"value": 3})  # an existing key: no new one
    with pytest.raises(TooManyRequests, match="more than 3 facts a minute") as refused:
        guest.set_fact(head, head_id, "servers/head/a", {"value": 4})
    assert refused.value.retry_after >= 1


def test_facts_bound_to_a_server_go_when_its_agent_is_gone_or_it_is_deleted(service):
    stack = create(service, "bound", TREE, files={"inner.yaml": INNER})
    assert settle(service, stack)["stack_status"] == "CREATE_COMPLETE"
    service.fact_reruns.stop()  # its sweep is driven here
    ids = servers(service, stack)
    head, node = bearer(service, ids["head"]), bearer(service, ids["node"])
    guest = service.guest.facts
    guest.set_fact(head, ids["head"], "servers/head/lease", {"value": "mine", "bound": True})
    guest.set_fact(head, ids["head"], "servers/head/name", {"value": "head"})
    guest.set_fact(node, ids["node"], "servers/node/lease", {"value": "mine", "bound": True})

    # head's agent has not been seen for longer than the grace and the longest long-poll.
    long_ago = service.runtime.now() - dt.timedelta(hours=1)
    with service.runtime.store.session() as session:
        session.execute(update(Server).where(Server.id == ids["head"]).values(last_seen_at=long_ago))
    service.fact_reruns.started_at = long_ago
    service.fact_reruns.unbind()
    left = {f["key"] for f in service.facts.list_facts("admin", stack)["facts"]}
    assert left == {"servers/head/name", "servers/node/lease"}

    # node is deleted with the stack's update that removes it: its bound fact goes in that step.
    service.operations.update_stack("admin", stack, {"template": TREE.replace("  node:", "  # node:")}, patch=True)
    assert settle(service, stack)["stack_status"] == "UPDATE_COMPLETE"
    assert {f["key"] for f in service.facts.list_facts("admin", stack)["facts"]} == {"servers/head/name"}


def test_a_changed_fact_re_runs_the_deployment_that_reads_it_once_per_burst(service):
    configure(service, fact_rerun_delay=0.0)
    service.fact_reruns.stop()  # its sweep is driven here
    stack = create(service, "reader", READER)
    entry = entry_of(service, stack, "CREATE")
    assert inputs(entry)["peer"] is None  # no fact yet: null
    agentless.signal(service, entry, {"deploy_status_code": 0})
    assert settle(service, stack)["stack_status"] == "CREATE_COMPLETE"

    # A burst of writes, a key nobody reads among them: one re-run, with the last value.
    for value in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        service.facts.set_fact("admin", stack, "servers/head/address", {"value": value})
    service.facts.set_fact("admin", stack, "unread", {"value": 1})
    service.fact_reruns.sweep()
    update = entry_of(service, stack, "UPDATE")
    assert inputs(update)["peer"] == "10.0.0.3"
    agentless.signal(service, update, {"deploy_status_code": 0})
    assert settle(service, stack)["stack_status"] == "UPDATE_COMPLETE"
    assert service.stacks.show_output("admin", stack, "all")["output_value"]["servers/head/address"] == "10.0.0.3"
    root = _scope(service, stack)
    assert (root.pending_keys, root.changed_at, len(root.reruns)) == ([], None, 1)

    # The same value again changes nothing: nothing to re-run.
    service.facts.set_fact("admin", stack, "servers/head/address", {"value": "10.0.0.3"})
    assert _scope(service, stack).changed_at is None
    # A key no resource reads: taken, and no update.
    service.facts.set_fact("admin", stack, "unread", {"value": 2})
    service.fact_reruns.sweep()
    assert _scope(service, stack).changed_at is None and len(_scope(service, stack).reruns) == 1

    # Past the hourly budget a change waits, and the stack's events say why.
    configure(service, fact_reruns_per_hour=1)
    service.facts.set_fact("admin", stack, "servers/head/address", {"value": "10.0.0.4"})
    service.fact_reruns.sweep()
    assert _scope(service, stack).pending_keys == ["servers/head/address"]
    reasons = [e["resource_status_reason"] for e in service.resources.list_events("admin", stack)]
    assert any("fact_reruns_per_hour" in r for r in reasons)
    assert service.stacks.show_stack("admin", stack, resolve_outputs=False)["stack_status"] == "UPDATE_COMPLETE"


def entry_of(service, stack_id: str, action: str) -> dict:
    """The deployment's entry for `action`, once its server has it (an input resolved to null
    is sent without a value, as Heat does)."""

    def find():
        for entry in agentless.entries(service, stack_id):
            if inputs(entry)["deploy_action"] == action:
                return entry
        return None

    return wait_for(find, 30, message=f"a {action} entry")


def inputs(entry: dict) -> dict:
    return {i["name"]: i.get("value") for i in entry["inputs"]}


def _scope(service, stack_id: str) -> FactScope:
    with service.runtime.store.session() as session:
        return session.get(FactScope, stack_id)


@pytest.mark.parametrize(
    ("template", "read"),
    [
        (
            {"resources": {"f": {"type": keys.FACTS_TYPE}, "d": {"properties": {"x": {"get_attr": ["f", "a/b"]}}}}},
            {"a/b"},
        ),
        ({"resources": {"f": {"type": keys.FACTS_TYPE}, "d": {"properties": {"x": {"get_attr": ["f"]}}}}}, {"*"}),
        (
            {
                "resources": {
                    "f": {"type": keys.FACTS_TYPE},
                    "d": {"properties": {"x": [{"get_attr": ["f", {"get_param": "k"}]}]}},
                }
            },
            {"*"},
        ),
        (
            {"Resources": {"f": {"Type": keys.FACTS_TYPE}, "d": {"Properties": {"x": {"Fn::GetAtt": ["f", "k"]}}}}},
            {"k"},
        ),
        (
            {"resources": {"v": {"type": "OS::Heat::Value"}, "d": {"properties": {"x": {"get_attr": ["v", "k"]}}}}},
            set(),
        ),
        (
            {"resources": {"f": {"type": keys.FACTS_TYPE}, "d": {"properties": {"x": {"get_attr": [{"a": 1}, "k"]}}}}},
            set(),
        ),
    ],
)
def test_the_keys_a_template_reads(template, read):
    assert keys.keys_read(template) == read


def test_keys_prefixes_and_changes_are_pure_rules():
    assert keys.server_prefix("web node#1") == "servers/web_node_1/"
    assert keys.check_key("servers/head/address") == "servers/head/address"
    for bad in ("", "/a", "a/", "a/../b", "a b", "x" * 513, 7):
        with pytest.raises(InvalidRequest):
            keys.check_key(bad)
    assert keys.remember(["a"], ["b", "a"]) == ["a", "b"]
    assert keys.remember([], [str(n) for n in range(101)]) == ["*"]
    assert keys.concerns(["a"], {"a"}) and keys.concerns(["*"], {"b"}) and not keys.concerns(["a"], {"b"})
