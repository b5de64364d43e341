"""Values derived from a secret are sealed at rest (taint tracking through resolution) on real
stores, and API answers show them as docs/security.md says: outputs in clear (as Heat shows them
to the stack's owner), stored state masked."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from engine import secrets
from engine.errors import TemplateError
from engine.store.models import Deployment, Event, Resource, SoftwareConfig, Stack
from tests.support import create, settle
from tests.unit.engine.agentless import entry_for, signal, values

SECRET = "s3cret-Sesame-4711"

INNER = """heat_template_version: 2018-08-31
parameters:
  p: {type: string}
  plain: {type: string, default: open}
resources:
  v:
    type: OS::Heat::Value
    properties: {value: {get_param: p}}
outputs:
  o: {value: {get_attr: [v, value]}}
  shown: {value: {get_param: plain}}
"""

TEMPLATE = """heat_template_version: 2018-08-31
parameters:
  pw: {type: string, hidden: true}
  plain: {type: string, default: open}
resources:
  v:
    type: OS::Heat::Value
    properties: {value: {get_param: pw}}
  encoded:
    type: OS::Heat::Value
    properties: {value: {str_replace: {template: "user:$P", params: {$P: {get_attr: [v, value]}}}}}
  clear:
    type: OS::Heat::Value
    properties: {value: {get_param: plain}}
  n:
    type: inner.yaml
    properties: {p: {get_param: pw}, plain: {get_param: plain}}
  from_nested:
    type: OS::Heat::Value
    properties: {value: {get_attr: [n, o]}}
outputs:
  direct: {value: {get_param: pw}}
  via_value: {value: {get_attr: [encoded, value]}}
  via_nested: {value: {get_attr: [from_nested, value]}}
  clear: {value: {get_attr: [clear, value]}}
"""


def dump(service) -> str:
    """Every row of every table, as text."""
    from engine.store.models import Base

    with service.runtime.store.session() as session:
        return json.dumps(
            [
                [list(map(str, row)) for row in session.execute(select(table)).all()]
                for table in Base.metadata.sorted_tables
            ]
        )


def rows(service, stack_id):
    with service.runtime.store.session() as session:
        return {r.name: r for r in session.scalars(select(Resource).where(Resource.stack_id == stack_id))}


def test_values_derived_from_a_hidden_parameter_are_sealed_at_rest_and_shown_as_documented(service):
    stack_id = create(service, "derived", TEMPLATE, parameters={"pw": SECRET}, files={"inner.yaml": INNER})
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    assert SECRET not in dump(service)

    stored = rows(service, stack_id)
    assert secrets.is_sealed(stored["v"].attributes["value"])
    assert secrets.is_sealed(stored["encoded"].attributes["value"])  # through str_replace
    assert secrets.is_sealed(stored["from_nested"].attributes["value"])  # through the nested output
    assert secrets.is_sealed(stored["n"].attributes["o"]) and stored["n"].attributes["shown"] == "open"
    assert stored["clear"].attributes == {"value": "open"}  # not derived: as it was
    with service.runtime.store.session() as session:
        nested = session.get(Stack, stored["n"].physical_id)
    assert secrets.is_sealed(nested.parameters["p"]) and nested.parameters["plain"] == "open"

    # Outputs: as Heat shows them to the stack's owner.
    outputs = {o["output_key"]: o["output_value"] for o in service.stacks.show_stack("admin", stack_id)["outputs"]}
    assert outputs == {"direct": SECRET, "via_value": "user:" + SECRET, "via_nested": SECRET, "clear": "open"}
    assert service.stacks.show_output("admin", stack_id, "via_nested")["output_value"] == SECRET
    # Stored state: masked.
    assert stack["parameters"]["pw"] == "******"
    assert service.resources.show_resource("admin", stack_id, "v")["attributes"] == {"value": "******"}
    assert service.resources.show_resource("admin", stack_id, "n")["attributes"]["o"] == "******"
    assert service.resources.show_resource("admin", stack_id, "clear")["attributes"] == {"value": "open"}
    nested_shown = service.stacks.show_stack("admin", nested.id)
    assert nested_shown["parameters"]["p"] == "******" and nested_shown["parameters"]["plain"] == "open"
    assert {o["output_key"]: o["output_value"] for o in nested_shown["outputs"]}["o"] == SECRET
    assert service.stacks.show_environment("admin", nested.id)["parameters"]["p"] == "******"
    listed = json.dumps(service.resources.list_resources("admin", stack_id, nested_depth=2, with_detail=True))
    assert SECRET not in listed


def test_a_derived_nested_parameter_stays_sealed_through_updates_and_after_the_delete(service):
    stack_id = create(service, "kept", TEMPLATE, parameters={"pw": SECRET}, files={"inner.yaml": INNER})
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    service.operations.update_stack(
        "admin",
        stack_id,
        {"template": TEMPLATE, "files": {"inner.yaml": INNER}, "parameters": {"plain": "changed"}},
        patch=True,
    )
    assert settle(service, stack_id)["stack_status"] == "UPDATE_COMPLETE"
    assert SECRET not in dump(service)
    service.stacks.delete_stack("admin", stack_id)
    assert settle(service, stack_id)["stack_status"] == "DELETE_COMPLETE"
    assert SECRET not in dump(service)
    with service.runtime.store.session() as session:
        leftovers = session.scalars(select(Resource).where(Resource.stack_id == stack_id)).all()
    assert all(not r.attributes and not r.data for r in leftovers)


CONSTRAINED = """heat_template_version: 2018-08-31
parameters:
  p: {type: string, constraints: [{allowed_pattern: "[a-z]{1,3}"}]}
resources:
  v: {type: OS::Heat::Value, properties: {value: {get_param: p}}}
"""


def test_a_nested_parameter_error_quoting_a_hidden_value_is_redacted_in_events_and_reasons(service):
    template = """heat_template_version: 2018-08-31
parameters:
  pw: {type: string, hidden: true}
resources:
  v: {type: OS::Heat::Value, properties: {value: {get_param: pw}}}
  n:
    type: small.yaml
    properties: {p: {get_attr: [v, value]}}
"""
    stack_id = create(service, "quoted", template, parameters={"pw": SECRET}, files={"small.yaml": CONSTRAINED})
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "CREATE_FAILED"
    assert SECRET not in json.dumps(stack) and SECRET not in dump(service)
    with service.runtime.store.session() as session:
        reasons = [e.reason for e in session.scalars(select(Event).where(Event.stack_id == stack_id))]
    assert any("******" in r for r in reasons) or "******" in stack["stack_status_reason"], reasons


DEPLOYED = """heat_template_version: 2018-08-31
parameters:
  pw: {type: string, hidden: true}
resources:
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      config: {str_replace: {template: "#!/bin/sh\\necho $P\\n", params: {$P: {get_param: pw}}}}
      inputs: [{name: secret_input}, {name: colour}]
      outputs: [{name: result}]
  server: {type: OS::Heat::DeployedServer}
  deploy:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {get_resource: config}
      server: {get_resource: server}
      signal_transport: HEAT_SIGNAL
      input_values:
        secret_input: {list_join: ["-", [{get_param: pw}, x]]}
        colour: blue
outputs:
  result: {value: {get_attr: [deploy, result]}}
"""


def test_deployment_inputs_outputs_and_reasons_derived_from_a_secret_are_sealed_or_redacted(service):
    stack_id = create(service, "deploying", DEPLOYED, parameters={"pw": SECRET})
    entry = entry_for(service, stack_id, "CREATE")
    with service.runtime.store.session() as session:
        row = session.scalars(select(Deployment)).one()
        assert secrets.is_sealed(row.input_values["secret_input"]) and row.input_values["colour"] == "blue"
    opened = entry  # as the agent receives it
    assert values(opened)["secret_input"] == SECRET + "-x" and SECRET in opened["config"]
    with service.runtime.store.session() as session:
        derived = session.get(SoftwareConfig, entry["id"])
        assert secrets.is_sealed(derived.body["config"])  # it holds the secret
    # The hook echoes its secret input: outputs are derived, the reason must not quote it.
    signal(service, opened, {"deploy_status_code": 0, "result": "got " + SECRET, "deploy_stdout": SECRET + "-x"})
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    assert {o["output_key"]: o["output_value"] for o in service.stacks.show_stack("admin", stack_id)["outputs"]}[
        "result"
    ] == "got " + SECRET
    assert SECRET not in dump(service)
    with service.runtime.store.session() as session:
        row = session.scalars(select(Deployment)).one()
        assert all(secrets.is_sealed(v) for v in row.output_values.values())
    shown = service.resources.show_resource("admin", stack_id, "deploy")
    assert SECRET not in json.dumps(shown)
    listed = service.software.list_software_deployments("admin")
    assert listed[0]["output_values"]["result"] == "******" and listed[0]["input_values"]["secret_input"] == "******"


def test_a_failure_a_hook_reports_with_its_secret_input_is_stored_redacted(service):
    stack_id = create(service, "failing", DEPLOYED, parameters={"pw": SECRET})
    entry = entry_for(service, stack_id, "CREATE")
    password = values(entry)["deploy_password"]
    signal(service, entry, {"deploy_status_code": 3, "deploy_stderr": f"bad {SECRET}-x and {password}"})
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "CREATE_FAILED"
    text = dump(service)
    assert SECRET not in text and password not in text
    assert "bad ******" in stack["stack_status_reason"]


def test_server_metadata_derived_from_a_secret_is_sealed_and_reaches_the_agent_in_clear(service):
    template = """heat_template_version: 2018-08-31
parameters:
  pw: {type: string, hidden: true}
resources:
  server:
    type: OS::Heat::DeployedServer
    metadata: {db: {password: {get_param: pw}}, colour: blue}
"""
    stack_id = create(service, "meta", template, parameters={"pw": SECRET})
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    assert SECRET not in dump(service)
    server_id = rows(service, stack_id)["server"].physical_id
    with service.runtime.store.session() as session:
        from engine.store.models import Server

        stored = session.get(Server, server_id).metadata_doc
    assert secrets.is_sealed(stored["db"]) and secrets.is_sealed(stored["colour"])
    served = secrets.open_document(service.runtime.keyring, stored)
    assert served["db"] == {"password": SECRET} and served["colour"] == "blue"
    assert service.resources.resource_metadata("admin", stack_id, "server")["db"] == "******"


def test_a_refused_value_derived_from_a_secret_is_kept_sealed(service):
    template = """heat_template_version: 2018-08-31
parameters:
  pw: {type: string, hidden: true}
resources:
  v:
    type: OS::Heat::Value
    properties: {type: number, value: {get_param: pw}}
"""
    # Refused at the request, as Heat refuses it; the message does not quote the secret.
    with pytest.raises(TemplateError) as refused:
        create(service, "refused", template, parameters={"pw": SECRET})
    assert "Property error" in str(refused.value) and SECRET not in str(refused.value)
    assert "******" in str(refused.value)
    # Refused once it is acted on (its value comes from another resource): kept sealed.
    later = (
        template.replace("{get_param: pw}", "{get_attr: [w, value]}")
        + "  w: {type: OS::Heat::Value, properties: {value: {get_param: pw}}}\n"
    )
    stack_id = create(service, "refused-later", later, parameters={"pw": SECRET})
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "CREATE_FAILED"
    assert SECRET not in dump(service) and SECRET not in json.dumps(stack)
    stored = rows(service, stack_id)["v"].attributes
    assert not stored or all(secrets.is_sealed(v) for v in stored.values())
