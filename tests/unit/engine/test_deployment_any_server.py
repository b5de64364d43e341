"""Deployments to any server id, as in Heat (real stores: SQLite file and PostgreSQL).

A SoftwareDeployment's `server` may be an id no server has yet, a server of another stack, or a
machine enrolled later under the id: its entry is kept under the id in its project, NO_SIGNAL
completes at once, a signalled one waits for its signal (or the stack's timeout), and the
project's server that has (or later takes) the id receives it; no other server does.

What Heat 27.0.1 answered for the same template (recorded with curl against the reference, server
"anysrv-s-dfed51", which no server has): CREATE_COMPLETE; `GET software_deployments?server_id=`
lists each deployment with action CREATE, status COMPLETE, status_reason "Not waiting for outputs
signal", output_values null and no updated_time; `GET software_deployments/metadata/<id>` lists
the derived configs sorted by name; an id with no deployment answers `{"metadata": []}`.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from engine import software_formats
from engine.errors import Conflict, Forbidden, InvalidRequest, NotFound
from engine.guest import enrol, metadata as guest_metadata
from engine.guest.service import GuestAuth
from engine.store.models import Server
from tests.support import create, settle, wait_for
from tests.unit.engine.agentless import resource, status, values

ANY = """heat_template_version: 2018-08-31
parameters:
  server: {type: string}
  transport: {type: string, default: NO_SIGNAL}
  actions: {type: comma_delimited_list, default: [CREATE, UPDATE]}
resources:
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      config: "#!/bin/sh\\necho hi $who\\n"
      inputs: [{name: who, default: world}]
      outputs: [{name: result}]
  deploy:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {get_resource: config}
      server: {get_param: server}
      input_values: {who: ann}
      signal_transport: {get_param: transport}
      actions: {get_param: actions}
outputs:
  result: {value: {get_attr: [deploy, result]}}
"""

GROUPS = """heat_template_version: 2018-08-31
parameters:
  first: {type: string}
  second: {type: string}
resources:
  config:
    type: OS::Heat::SoftwareConfig
    properties: {group: script, config: "#!/bin/sh"}
  sconfig:
    type: OS::Heat::StructuredConfig
    properties:
      group: json-file
      config: {server: {get_input: deploy_server_id}}
  group:
    type: OS::Heat::SoftwareDeploymentGroup
    properties:
      config: {get_resource: config}
      servers: {a: {get_param: first}, b: {get_param: second}}
      signal_transport: NO_SIGNAL
  sgroup:
    type: OS::Heat::StructuredDeploymentGroup
    properties:
      config: {get_resource: sconfig}
      servers: {c: {get_param: second}}
      signal_transport: NO_SIGNAL
outputs:
  codes: {value: {get_attr: [group, deploy_status_codes]}}
"""

HOST = """heat_template_version: 2018-08-31
resources:
  box: {type: OS::Heat::DeployedServer}
"""


def deploy(service, name, server, **parameters):
    return create(service, name, ANY, parameters={"server": server, **parameters})


def opened_entries(service, server_id, project="admin"):
    """The entries as the agent receives them (secrets opened), whether a server has the id or not."""
    with service.runtime.store.session() as session:
        return [
            software_formats.open_entry(service.runtime.keyring, e)
            for e in guest_metadata.deployment_entries(session, server_id, project)
        ]


def served(service, server_id):
    """What the server's agent is served: its metadata document's deployments."""
    with service.runtime.store.session() as session:
        row = session.get(Server, server_id)
        doc = software_formats.open_document(service.runtime.keyring, row.metadata_doc or {})
    return list(doc.get("deployments") or [])


def presigned(entry):
    inputs = values(entry)
    query = parse_qs(urlparse(inputs["deploy_signal_id"]).query)
    return GuestAuth(method=inputs["deploy_signal_verb"], expires=query["expires"][0], signature=query["signature"][0])


def host_server(service, name="host"):
    stack_id = create(service, name, HOST)
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    return stack_id, resource(service, stack_id, "box")["physical_resource_id"]


def test_no_signal_to_an_id_no_server_has_completes_and_is_kept_under_the_id(service):
    stack_id = deploy(service, "lonely", "box-7")
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    [listed] = service.software.list_software_deployments("admin", "box-7")
    # Heat's answer for the same case (module docstring): no updated_time before a second run.
    assert {
        k: listed[k] for k in ("server_id", "action", "status", "status_reason", "output_values", "input_values")
    } == {
        "server_id": "box-7",
        "action": "CREATE",
        "status": "COMPLETE",
        "status_reason": "Not waiting for outputs signal",
        "output_values": None,
        "input_values": {"who": "ann"},
    }
    assert "updated_time" not in listed
    [entry] = service.software.deployment_metadata("admin", "box-7")
    assert entry["id"] == listed["config_id"] and entry["options"] == {}
    assert values(entry) == {
        "who": "ann",
        "deploy_server_id": "box-7",
        "deploy_action": "CREATE",
        "deploy_stack_id": f"lonely/{stack_id}",
        "deploy_resource_name": "deploy",
        "deploy_signal_transport": "NO_SIGNAL",
    }
    assert service.stacks.show_output("admin", stack_id, "result")["output_value"] is None
    # Kept per project: the id means nothing in another project, and an unknown id is empty.
    assert service.software.deployment_metadata("other", "box-7") == []
    assert service.software.deployment_metadata("admin", "box-8") == []
    service.stacks.delete_stack("admin", stack_id)
    assert settle(service, stack_id)["stack_status"] == "DELETE_COMPLETE"
    assert service.software.deployment_metadata("admin", "box-7") == []


def test_entries_of_one_id_are_sorted_by_name_across_stacks_and_groups(service):
    first = create(service, "g1", GROUPS, parameters={"first": "n-1", "second": "n-2"})
    assert settle(service, first)["stack_status"] == "CREATE_COMPLETE"
    assert service.stacks.show_output("admin", first, "codes")["output_value"] == {"a": None, "b": None}
    second = deploy(service, "g2", "n-2")
    assert settle(service, second)["stack_status"] == "CREATE_COMPLETE"
    entries = service.software.deployment_metadata("admin", "n-2")
    # Heat's order: by config name (the source config's physical name,
    # <stack>-<resource>-<short id>), creation order among equals.
    assert [e["name"].rsplit("-", 1)[0] for e in entries] == ["g1-config", "g1-sconfig", "g2-config"]
    assert [values(e)["deploy_resource_name"] for e in entries] == ["b", "c", "deploy"]
    assert entries[1]["config"] == {"server": "n-2"}
    assert [values(e)["deploy_server_id"] for e in service.software.deployment_metadata("admin", "n-1")] == ["n-1"]


def test_a_signalled_deployment_to_an_unknown_id_waits_for_its_signal(service):
    stack_id = deploy(service, "waits", "box-9", transport="CFN_SIGNAL")
    wait_for(
        lambda: (
            resource(service, stack_id, "deploy")["resource_status"] == "CREATE_IN_PROGRESS"
            and opened_entries(service, "box-9")
        ),
        30,
        message="the deployment to wait",
    )
    [entry] = opened_entries(service, "box-9")
    assert status(service, stack_id) == "CREATE_IN_PROGRESS"
    [listed] = service.software.list_software_deployments("admin", "box-9")
    assert (listed["status"], listed["status_reason"]) == ("IN_PROGRESS", "Deploy data available")
    service.guest.signal_deployment(presigned(entry), entry["id"], {"result": "done", "deploy_status_code": 0})
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    assert service.stacks.show_output("admin", stack_id, "result")["output_value"] == "done"


def test_a_signalled_deployment_to_an_unknown_id_fails_at_the_stack_timeout(service):
    stack_id = create(
        service, "late", ANY, parameters={"server": "box-10", "transport": "CFN_SIGNAL"}, timeout_mins=0.02
    )
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "CREATE_FAILED" and "timed out" in stack["stack_status_reason"]


def test_a_server_of_another_stack_receives_it_and_its_credential_signals_it(service):
    host_id, server_id = host_server(service)
    stack_id = deploy(service, "guest", server_id, transport="CFN_SIGNAL")
    entry = wait_for(
        lambda: next(iter(served(service, server_id)), None),
        30,
        message="the entry in the other stack's server metadata",
    )
    assert values(entry)["deploy_stack_id"] == f"guest/{stack_id}"
    secret = enrol.issue_bootstrap(service.runtime, "admin", server_id)["bootstrap"]["credential"]
    answer = service.guest.metadata(GuestAuth(bearer=secret), server_id, None, 0)
    assert [e["id"] for e in answer[1]["deployments"]] == [entry["id"]]
    service.guest.signal_deployment(GuestAuth(bearer=secret), entry["id"], {"result": "r"})
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    service.stacks.delete_stack("admin", stack_id)
    assert settle(service, stack_id)["stack_status"] == "DELETE_COMPLETE"
    assert served(service, server_id) == []
    assert status(service, host_id) == "CREATE_COMPLETE"  # the server's own stack is untouched


def test_a_machine_enrolled_later_under_the_id_receives_what_waited_for_it(service):
    stack_id = deploy(service, "early", "rack-3-node-1", transport="CFN_SIGNAL")
    wait_for(lambda: opened_entries(service, "rack-3-node-1"), 30, message="the entry under the id")
    with pytest.raises(NotFound) as unknown:  # an unknown id is enrolled only when asked for
        enrol.issue_bootstrap(service.runtime, "admin", "rack-3-node-1")
    assert "--new" in str(unknown.value)
    answer = enrol.issue_bootstrap(service.runtime, "admin", "rack-3-node-1", new=True)
    document = answer["bootstrap"]
    assert document["server_id"] == "rack-3-node-1" and answer["server"]["stack_id"] is None
    assert document["metadata_url"].endswith("/guest/v1/servers/rack-3-node-1/metadata")
    auth = GuestAuth(bearer=document["credential"])
    version, doc = service.guest.metadata(auth, "rack-3-node-1", None, 0)
    [entry] = doc["deployments"]
    assert values(entry)["deploy_server_id"] == "rack-3-node-1"
    assert doc["os-collect-config"]["collectors"] == ["hearth"]

    # Later deployments to the id reach it through the same long-poll.
    later = deploy(service, "later", "rack-3-node-1")
    assert settle(service, later)["stack_status"] == "CREATE_COMPLETE"
    newer = service.guest.metadata(auth, "rack-3-node-1", version, 5)
    assert newer is not None and len(newer[1]["deployments"]) == 2

    service.guest.signal_deployment(auth, entry["id"], {"result": "ran", "deploy_status_code": 0})
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    assert service.stacks.show_output("admin", stack_id, "result")["output_value"] == "ran"

    # Enrolling again issues another credential for the same server; the first still works.
    again = enrol.issue_bootstrap(service.runtime, "admin", "rack-3-node-1", new=True)
    assert again["bootstrap"]["credential"] != document["credential"]
    assert service.guest.metadata(auth, "rack-3-node-1", None, 0)[0] >= version


def test_an_enrolled_id_takes_a_delete_run_and_an_unknown_one_is_removed_at_once(service):
    enrol.issue_bootstrap(service.runtime, "admin", "kept-1", new=True)
    runs = deploy(service, "runs", "kept-1", transport="CFN_SIGNAL", actions="CREATE,DELETE")

    def signal(action):
        return next(e for e in opened_entries(service, "kept-1") if values(e)["deploy_action"] == action)

    wait_for(lambda: opened_entries(service, "kept-1"), 30, message="the CREATE entry")
    service.guest.signal_deployment(presigned(signal("CREATE")), signal("CREATE")["id"], {})
    assert settle(service, runs)["stack_status"] == "CREATE_COMPLETE"
    service.stacks.delete_stack("admin", runs)
    deleting = wait_for(
        lambda: next((e for e in served(service, "kept-1") if values(e)["deploy_action"] == "DELETE"), None),
        30,
        message="the DELETE run on the enrolled machine",
    )
    assert status(service, runs) == "DELETE_IN_PROGRESS"
    service.guest.signal_deployment(presigned(deleting), deleting["id"], {"deploy_status_code": 0})
    assert settle(service, runs)["stack_status"] == "DELETE_COMPLETE"

    # No server has "gone-1": as Heat (whose Nova finds no such server), nothing waits.
    skipped = deploy(service, "skipped", "gone-1", transport="CFN_SIGNAL", actions="DELETE")
    assert settle(service, skipped)["stack_status"] == "CREATE_COMPLETE"
    service.stacks.delete_stack("admin", skipped)
    assert settle(service, skipped)["stack_status"] == "DELETE_COMPLETE"
    assert service.software.deployment_metadata("admin", "gone-1") == []


def test_another_projects_server_id_reaches_nothing_of_it(service):
    _, server_id = host_server(service)
    secret = enrol.issue_bootstrap(service.runtime, "admin", server_id)["bootstrap"]["credential"]
    config = service.software.create_software_config("other", {"name": "x", "group": "script", "config": "#!/bin/sh"})
    made = service.software.create_software_deployment(
        "other", {"config_id": config["id"], "server_id": server_id, "status": "IN_PROGRESS"}
    )
    # Kept under the id in project "other"; the admin project's server of that id never sees it.
    assert [e["id"] for e in service.software.deployment_metadata("other", server_id)] == [config["id"]]
    assert served(service, server_id) == [] and service.software.deployment_metadata("admin", server_id) == []
    with pytest.raises(Forbidden):
        service.guest.signal_deployment(GuestAuth(bearer=secret), config["id"], {"deploy_status_code": 0})
    assert service.software.show_software_deployment("other", made["id"])["status"] == "IN_PROGRESS"
    # Nor can that project enrol a machine under the taken id (ids are one namespace).
    with pytest.raises(Conflict):
        enrol.issue_bootstrap(service.runtime, "other", server_id, new=True)


def test_ids_a_deployment_or_a_machine_may_take(service):
    too_long = deploy(service, "long", "x" * 37)
    stack = settle(service, too_long)
    assert stack["stack_status"] == "CREATE_FAILED" and "1 to 36 characters" in stack["stack_status_reason"]
    for bad in ("-dash-first", "with space", "x" * 37, "slash/y"):
        with pytest.raises(InvalidRequest):
            enrol.issue_bootstrap(service.runtime, "admin", bad, new=True)
