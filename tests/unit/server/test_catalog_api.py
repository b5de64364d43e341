"""Resource types, template versions and functions, and validate over real HTTP, as
python-heatclient and the openstack CLI call them."""

from __future__ import annotations

from engine.resources import types
from engine.service import catalog

GOOD = """heat_template_version: 2018-08-31
description: A value.
parameters:
  word: {type: string, default: hi, label: Word}
resources:
  v: {type: OS::Heat::Value, properties: {value: {get_param: word}}}
"""


def test_resource_types_list_with_filters_and_descriptions(shared_hearth):
    api = shared_hearth.api
    listed = shared_hearth.http.get(f"{api}/resource_types", timeout=10).json()["resource_types"]
    hidden = {n for n, cls in types().items() if cls.support_status.get("status") == "HIDDEN"}
    assert listed == sorted(set(types()) - hidden)
    wait = shared_hearth.http.get(
        f"{api}/resource_types", params={"name": "OS::Heat::Wait.*Handle"}, timeout=10
    ).json()["resource_types"]
    assert wait == ["OS::Heat::WaitConditionHandle"]
    described = shared_hearth.http.get(
        f"{api}/resource_types", timeout=10, params={"name": "OS::Heat::Value", "with_description": "true"}
    ).json()["resource_types"]
    assert described == [
        {"resource_type": "OS::Heat::Value", "description": catalog.description(types()["OS::Heat::Value"])}
    ]
    supported = shared_hearth.http.get(
        f"{api}/resource_types", params={"support_status": "SUPPORTED"}, timeout=10
    ).json()["resource_types"]
    # OS::Aodh::Alarm is listed DEPRECATED, as Heat lists it (deprecated in Aodh since Ocata).
    deprecated = sorted(n for n, cls in types().items() if cls.support_status.get("status") == "DEPRECATED")
    assert deprecated == ["OS::Aodh::Alarm"]
    assert supported == [n for n in listed if n not in deprecated]
    assert (
        shared_hearth.http.get(f"{api}/resource_types", params={"support_status": "DEPRECATED"}, timeout=10).json()[
            "resource_types"
        ]
        == deprecated
    )
    bad = shared_hearth.http.get(f"{api}/resource_types", params={"support_status": "GOOD"}, timeout=10)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_request"
    bad = shared_hearth.http.get(f"{api}/resource_types", params={"with_description": "maybe"}, timeout=10)
    assert bad.status_code == 400 and "'with_description' must be a boolean" in bad.json()["explanation"]


def test_resource_type_schema_and_generated_templates(shared_hearth):
    api = shared_hearth.api
    schema = shared_hearth.http.get(f"{api}/resource_types/OS::Heat::RandomString", timeout=10).json()
    assert schema["resource_type"] == "OS::Heat::RandomString"
    assert schema["properties"]["length"]["constraints"] == [{"range": {"min": 1, "max": 512}}]
    assert schema["attributes"]["value"]["description"]
    assert schema["support_status"]["status"] == "SUPPORTED" and "description" not in schema
    described = shared_hearth.http.get(
        f"{api}/resource_types/OS::Heat::RandomString", params={"with_description": "1"}, timeout=10
    ).json()
    assert described["description"].startswith("A random string")
    hot = shared_hearth.http.get(
        f"{api}/resource_types/OS::Heat::Value/template", params={"template_type": "hot"}, timeout=10
    ).json()
    assert hot["resources"] == {
        "Value": {
            "type": "OS::Heat::Value",
            "properties": {"value": {"get_param": "value"}, "type": {"get_param": "type"}},
        }
    }
    cfn = shared_hearth.http.get(f"{api}/resource_types/OS::Heat::Value/template", timeout=10).json()
    assert cfn["HeatTemplateFormatVersion"] == "2012-12-12"  # Heat's default template_type
    # A cloud's type is refused as a Heat without that service refuses it (recorded from Heat
    # 27.0.1, tests/differential/cases/catalog/type-unavailable); an unknown one is not found.
    missing = shared_hearth.http.get(f"{api}/resource_types/OS::Nova::Flavor", timeout=10)
    assert missing.status_code == 400 and missing.json()["error"]["type"] == "ResourceTypeUnavailable"
    assert "Service nova is not available" in missing.json()["explanation"]
    unknown = shared_hearth.http.get(f"{api}/resource_types/OS::Nothing::Here", timeout=10)
    assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "EntityNotFound"
    wrong = shared_hearth.http.get(
        f"{api}/resource_types/OS::Heat::Value/template", params={"template_type": "xml"}, timeout=10
    )
    assert wrong.status_code == 400


def test_template_versions_and_functions(shared_hearth):
    api = shared_hearth.api
    versions = shared_hearth.http.get(f"{api}/template_versions", timeout=10).json()["template_versions"]
    rocky = next(v for v in versions if v["version"] == "heat_template_version.2018-08-31")
    assert rocky == {
        "version": "heat_template_version.2018-08-31",
        "type": "hot",
        "aliases": ["heat_template_version.rocky"],
    }
    for version in versions:
        listed = shared_hearth.http.get(f"{api}/template_versions/{version['version']}/functions", timeout=10)
        assert listed.status_code == 200, listed.text
        functions = listed.json()["template_functions"]
        assert functions and all(set(f) == {"functions", "description"} for f in functions)
        with_conditions = shared_hearth.http.get(
            f"{api}/template_versions/{version['version']}/functions",
            params={"with_condition_func": "true"},
            timeout=10,
        ).json()["template_functions"]
        assert {f["functions"] for f in functions} <= {f["functions"] for f in with_conditions}
    missing = shared_hearth.http.get(f"{api}/template_versions/heat_template_version.1999-01-01/functions", timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_validate_answers_heats_shape(shared_hearth):
    answer = shared_hearth.http.post(f"{shared_hearth.api}/validate", json={"template": GOOD}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "Description": "A value.",
        "Parameters": {
            "word": {"Type": "String", "Description": "", "NoEcho": "false", "Label": "Word", "Default": "hi"}
        },
        "Environment": {
            "parameters": {},
            "parameter_defaults": {},
            "resource_registry": {"resources": {}},
            "event_sinks": [],
        },
    }
    listed = shared_hearth.http.get(f"{shared_hearth.api}/stacks", timeout=10).json()["stacks"]
    assert listed == []  # nothing was made


def test_validate_errors_name_file_line_and_path(shared_hearth):
    bad_property = GOOD.replace("{value: {get_param: word}}", "{valu: 1}")
    answer = shared_hearth.http.post(
        f"{shared_hearth.api}/validate", timeout=10, json={"template": bad_property, "template_name": "web.yaml"}
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "template_invalid"
    assert answer.json()["explanation"].startswith(
        "web.yaml:6: Property error: resources.v.properties: Unknown Property valu"
    )
    unknown_type = GOOD.replace("OS::Heat::Value", "OS::Heat::Valve")
    answer = shared_hearth.http.post(
        f"{shared_hearth.api}/validate", timeout=10, json={"template": unknown_type, "template_name": "web.yaml"}
    )
    assert answer.status_code == 400
    assert (
        answer.json()["explanation"]
        == "web.yaml:6: resources.v.type: The Resource Type (OS::Heat::Valve) could not be found."
    )
    not_yaml = shared_hearth.http.post(
        f"{shared_hearth.api}/validate", timeout=10, json={"template": "a: [", "template_name": "x.yaml"}
    )
    assert not_yaml.status_code == 400 and not_yaml.json()["explanation"].startswith("x.yaml:1")
