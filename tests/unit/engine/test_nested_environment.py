"""The pure parts of nested stacks: the environment a nested stack inherits, template names in the files map."""

from __future__ import annotations

import pytest

from engine.errors import TemplateError
from engine.resources.provider import provider_class
from engine.resources.stack_resource import child_environment, template_key

FILES = {
    "file:///home/me/stacks/server.yaml": "a",
    "nested/db.yaml": "b",
    "/srv/t/web.yaml": "c",
    "http://example.com/t/lb.yaml": "d",
}


@pytest.mark.parametrize(
    "name,base,key",
    [
        ("file:///home/me/stacks/server.yaml", "", "file:///home/me/stacks/server.yaml"),
        ("server.yaml", "file:///home/me/stacks/top.yaml", "file:///home/me/stacks/server.yaml"),
        ("../stacks/server.yaml", "file:///home/me/other/top.yaml", "file:///home/me/stacks/server.yaml"),
        ("db.yaml", "nested/top.yaml", "nested/db.yaml"),
        ("nested/db.yaml", "top.yaml", "nested/db.yaml"),
        ("file:///srv/t/web.yaml", "", "/srv/t/web.yaml"),
        ("/home/me/stacks/server.yaml", "", "file:///home/me/stacks/server.yaml"),
        ("lb.yaml", "http://example.com/t/top.yaml#group", "http://example.com/t/lb.yaml"),
        ("server.yaml", "top.yaml", None),
    ],
)
def test_template_names_resolve_through_the_files_map(name, base, key):
    assert template_key(name, FILES, base) == key


def test_nested_environment_keeps_registry_and_defaults_not_parameters():
    parent = {
        "parameters": {"p": 1},
        "parameter_defaults": {"flavor": "m1"},
        "resource_registry": {"My::Web": "web.yaml", "OS::Nova::Server": "server.yaml", "base_url": "file:///x/"},
    }
    child = child_environment(parent, "web")
    assert child == {
        "parameter_defaults": {"flavor": "m1"},
        "resource_registry": {"My::Web": "web.yaml", "OS::Nova::Server": "server.yaml", "base_url": "file:///x/"},
    }
    child["resource_registry"]["My::Web"] = "changed"
    assert parent["resource_registry"]["My::Web"] == "web.yaml"  # a copy, not the parent's


def test_a_provider_templates_own_mapping_is_dropped_so_it_may_use_the_type_it_replaces():
    parent = {
        "resource_registry": {"OS::Nova::Server": "server.yaml", "My::Other": "server.yaml", "My::Web": "web.yaml"}
    }
    assert child_environment(parent, "web", removed_template="server.yaml") == {
        "resource_registry": {"My::Web": "web.yaml"}
    }


def test_per_resource_overrides_narrow_to_the_owning_resource():
    parent = {
        "resource_registry": {
            "resources": {
                "group": {"0": {"hooks": "pre-create"}, "OS::Nova::Server": "server.yaml"},
                "gr*": {"1": {"hooks": ["pre-update"]}},
                "other": {"0": {"hooks": "pre-delete"}},
            }
        }
    }
    assert child_environment(parent, "group") == {
        "resource_registry": {"resources": {"1": {"hooks": ["pre-update"]}, "0": {"hooks": "pre-create"}}}
    }
    assert child_environment(parent, "unrelated") == {"resource_registry": {}}


def test_provider_class_properties_follow_the_templates_parameters():
    files = {
        "web.yaml": """heat_template_version: 2018-08-31
parameters:
  size: {type: number, constraints: [{range: {min: 1, max: 4}}]}
  names: {type: comma_delimited_list, default: []}
  flavor: {type: string}
outputs:
  url: {value: x, description: where it answers}
"""
    }
    cls = provider_class("web.yaml", files, base="top.yaml", parameter_defaults={"flavor": "m1"})
    assert cls is provider_class("web.yaml", files, base="top.yaml", parameter_defaults={"flavor": "m1"})
    assert set(cls.attributes_schema) == {"url", "OS::stack_id"}
    assert "resource.server.first_address" in cls.attributes_schema and "nope" not in cls.attributes_schema
    assert cls.check_properties({"size": "2", "names": "a, b"}) == {"size": 2, "names": ["a", " b"], "flavor": None}
    with pytest.raises(TemplateError) as error:
        cls.check_properties({"size": 9})
    assert error.value.path == ("size",) and "9" in error.value.reason
    # Heat's words: the properties section is the path, the property is in the reason
    with pytest.raises(TemplateError) as error:
        cls.check_properties({"size": 1, "colour": "red"})
    assert (error.value.path, error.value.prefix) == ((), "Property error: ")
    assert error.value.reason == "Unknown Property colour"
    with pytest.raises(TemplateError) as error:
        cls.check_properties({})
    assert error.value.reason == "Property size not assigned"

    # values holding calls are checked once resolved
    def unresolved(value):
        return isinstance(value, dict) and list(value) == ["get_attr"]

    call = {"get_attr": ["x", "y"]}
    assert cls.check_properties({"size": call, "names": ["a", call]}, unresolved=unresolved) == {
        "size": call,
        "names": ["a", call],
        "flavor": None,
    }
    # without the environment's default, flavor is required too
    with pytest.raises(TemplateError) as error:
        provider_class("web.yaml", files).check_properties({"size": 1})
    assert error.value.reason == "Property flavor not assigned"


def test_provider_class_errors_name_the_missing_or_broken_file():
    with pytest.raises(TemplateError) as error:
        provider_class("gone.yaml", {}, base="top.yaml")
    assert 'Could not fetch remote template "gone.yaml": Invalid URL scheme' in str(error.value)
    assert error.value.file is None  # the caller locates it at the resource's type
    with pytest.raises(TemplateError) as error:
        provider_class("bad.yaml", {"bad.yaml": "heat_template_version: 2018-08-31\nresources:\n  x: 1\n"})
    assert str(error.value).startswith("bad.yaml:3: resources.x:")
