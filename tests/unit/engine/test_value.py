"""OS::Heat::Value and OS::Heat::None on real stacks (SQLite file and PostgreSQL): the value checked
against its declared type and kept as given; None as Heat 27.0.1 answers (recorded from it)."""

from __future__ import annotations

import uuid

import pytest

from engine.errors import TemplateError
from engine.resources.heat_value import Value
from tests.support import create, settle


def outputs(service, stack_id):
    return {o["output_key"]: o["output_value"] for o in service.stacks.show_stack("admin", stack_id)["outputs"]}


TYPED = """heat_template_version: 2018-08-31
parameters:
  p_count: {type: string, default: "3"}
  p_ratio: {type: string, default: "0.5"}
  p_flag: {type: string, default: "True"}
resources:
  count: {type: OS::Heat::Value, properties: {type: number, value: {get_param: p_count}}}
  ratio: {type: OS::Heat::Value, properties: {type: number, value: {get_param: p_ratio}}}
  flag: {type: OS::Heat::Value, properties: {type: boolean, value: {get_param: p_flag}}}
  names: {type: OS::Heat::Value, properties: {type: comma_delimited_list, value: [api, " worker", 3]}}
  text: {type: OS::Heat::Value, properties: {type: string, value: 42}}
  untyped: {type: OS::Heat::Value, properties: {value: {get_param: p_count}}}
  native: {type: OS::Heat::Value, properties: {type: json, value: {a: [1, 2]}}}
  reader: {type: OS::Heat::Value, properties: {value: {get_attr: [native, value, a, 1]}}}
outputs:
  count: {value: {get_attr: [count, value]}}
  ratio: {value: {get_attr: [ratio, value]}}
  flag: {value: {get_attr: [flag, value]}}
  names: {value: {get_attr: [names, value]}}
  text: {value: {get_attr: [text, value]}}
  untyped: {value: {get_attr: [untyped, value]}}
  native: {value: {get_attr: [native, value]}}
  reader: {value: {get_attr: [reader, value]}}
"""


def test_each_declared_type_checks_the_value_and_keeps_it_as_given(service):
    # Recorded from Heat 27.0.1 (tests/differential/cases/resources/value-types): the type is
    # checked, the attribute is the value as given.
    stack_id = create(service, "typed", TYPED)
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    assert outputs(service, stack_id) == {
        "count": "3",
        "ratio": "0.5",
        "flag": "True",
        "names": ["api", " worker", 3],
        "text": 42,
        "untyped": "3",
        "native": {"a": [1, 2]},
        "reader": 2,
    }


def test_update_answers_the_new_value(service):
    stack_id = create(service, "later", TYPED)
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    service.operations.update_stack("admin", stack_id, {"parameters": {"p_count": "7", "p_flag": "false"}}, patch=True)
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "UPDATE_COMPLETE", stack["stack_status_reason"]
    got = outputs(service, stack_id)
    assert (got["count"], got["flag"], got["untyped"]) == ("7", "false", "7")


@pytest.mark.parametrize(
    "declared, given, reason",
    [
        ("number", "three", "could not convert string to float: 'three'"),
        ("boolean", "maybe", '"maybe" is not a valid boolean'),
        ("json", "[1, 2]", '"[1, 2]" is not a map'),
        ("json", "{not json", '"{not json" is not a map'),
    ],
)
def test_a_value_that_does_not_convert_is_refused_at_create_naming_the_property(service, declared, given, reason):
    template = f"""heat_template_version: 2018-08-31
parameters:
  given: {{type: string}}
resources:
  typed: {{type: OS::Heat::Value, properties: {{type: {declared}, value: {{get_param: given}}}}}}
"""
    # Heat resolves and checks the properties when the create is asked for, and refuses it.
    with pytest.raises(TemplateError) as caught:
        create(service, "wrong", template, parameters={"given": given})
    assert str(caught.value) == f"wrong.yaml:5: Property error: resources.typed.properties.value: {reason}"


def test_a_literal_that_does_not_convert_is_refused_before_anything_runs(service):
    template = """heat_template_version: 2018-08-31
resources:
  typed: {type: OS::Heat::Value, properties: {type: number, value: [1, 2]}}
"""
    with pytest.raises(TemplateError) as error:
        create(service, "literal", template)
    assert (
        str(error.value)
        == "literal.yaml:3: Property error: resources.typed.properties.value: int() argument must be a string, a bytes-like object or a real number, not 'list'"
    )


def test_a_type_or_value_not_resolved_yet_waits_for_its_value():
    call = {"get_param": "t"}

    def unresolved(value):
        return value == call

    assert Value.check_properties({"type": call, "value": "x"}, unresolved=unresolved) == {"type": call, "value": "x"}
    assert Value.check_properties({"type": "number", "value": call}, unresolved=unresolved) == {
        "type": "number",
        "value": call,
    }


PLACEHOLDER = """heat_template_version: 2018-08-31
parameters:
  word: {type: string, default: a}
resources:
  stub:
    type: OS::Heat::None
    properties: {value: {get_param: word}, anything: 1}
    metadata: {word: {get_param: word}}
outputs:
  ref: {value: {get_resource: stub}}
  one: {value: {get_attr: [stub, whatever]}}
  all: {value: {get_attr: [stub]}}
"""


def stub_events(service, stack_id):
    return [
        e["resource_status"] for e in service.resources.list_events("admin", stack_id) if e["resource_name"] == "stub"
    ]


def test_none_has_a_uuid_and_null_attributes(service):
    stack_id = create(service, "none", PLACEHOLDER)
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    got = outputs(service, stack_id)
    # Recorded from Heat 27.0.1: a UUID, null for any attribute, an empty map for all of them.
    assert str(uuid.UUID(got["ref"])) == got["ref"]
    assert (got["one"], got["all"]) == (None, {})
    assert service.resources.show_resource("admin", stack_id, "stub")["attributes"] == {}


def test_none_is_never_updated_nor_replaced_while_it_stays_none(service):
    template = PLACEHOLDER
    stack_id = create(service, "placeholder", template)
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    first = outputs(service, stack_id)["ref"]
    body = {"template": template, "parameters": {"word": "b"}}
    # Recorded from Heat 27.0.1: preview lists it unchanged; the update has no event for it.
    changes = service.previews.preview_update("admin", stack_id, body, patch=False)["resource_changes"]
    assert [e["resource_name"] for e in changes["unchanged"]] == ["stub"]
    service.operations.update_stack("admin", stack_id, body, patch=False)
    assert settle(service, stack_id)["stack_status"] == "UPDATE_COMPLETE"
    assert outputs(service, stack_id)["ref"] == first
    assert stub_events(service, stack_id) == ["CREATE_IN_PROGRESS", "CREATE_COMPLETE"]
    # Another type in its place replaces it (Heat: the new resource is created).
    value = (
        template.replace("OS::Heat::None", "OS::Heat::Value")
        .replace(", anything: 1", "")
        .replace("  one: {value: {get_attr: [stub, whatever]}}\n", "")
    )
    service.operations.update_stack("admin", stack_id, {"template": value, "parameters": {"word": "b"}}, patch=False)
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "UPDATE_COMPLETE", stack["stack_status_reason"]
    assert outputs(service, stack_id)["ref"] != first
