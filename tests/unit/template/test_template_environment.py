"""Tests for engine.template.environment: sections, merging in order, and resource type mapping."""

from __future__ import annotations

import textwrap

import pytest

from engine.errors import TemplateError
from engine.template import Environment, merge_environments, parse_environment


def env(text: str, filename: str = "env.yaml") -> Environment:
    return parse_environment(textwrap.dedent(text), filename)


def test_sections_are_read():
    environment = env("""\
        parameters:
          flavor: m1.large
        parameter_defaults:
          image: cirros
        resource_registry:
          "OS::Nova::Server": "OS::Hearth::Server"
        encrypted_param_names: []
        event_sinks: []
        parameter_merge_strategies: {}
        """)
    assert (environment.parameters, environment.parameter_defaults, environment.resource_registry) == (
        {"flavor": "m1.large"},
        {"image": "cirros"},
        {"OS::Nova::Server": "OS::Hearth::Server"},
    )
    assert environment.filename == "env.yaml"


def test_empty_environment():
    assert parse_environment("", "env.yaml") == Environment(filename="env.yaml")


def test_a_section_left_empty_is_refused_as_heat_does():
    with pytest.raises(TemplateError) as caught:
        parse_environment({"parameters": None})
    assert caught.value.kind == "HTTPBadRequest"
    assert caught.value.reason == 'Environment not in valid format: environment has empty section "parameters"'


def test_unknown_section_names_file_line_and_section():
    with pytest.raises(TemplateError) as caught:
        env("parameters: {}\nparameter_default:\n  image: x\n")
    assert str(caught.value) == (
        "env.yaml:2: parameter_default: Environment not in valid format: environment has wrong section "
        '"parameter_default"'
    )
    assert caught.value.kind == "HTTPBadRequest"


@pytest.mark.parametrize(
    "text, message",
    [
        ("parameters: [a]\n", "env.yaml:1: parameters: 'parameters' must be a map, not a list"),
        ("event_sinks: {}\n", "env.yaml:1: event_sinks: 'event_sinks' must be a list, not a map"),
        (
            "resource_registry:\n  OS::A: 3\n",
            "env.yaml:2: resource_registry.OS::A: must map to a type name or a template file name",
        ),
        (
            "resource_registry:\n  resources:\n    web: OS::A\n",
            "env.yaml:3: resource_registry.resources.web: overrides must be a map",
        ),
        (
            "resource_registry:\n  resources:\n    web:\n      OS::A: [x]\n",
            "env.yaml:4: resource_registry.resources.web.OS::A: must map to a type name or a template file name",
        ),
        (
            "resource_registry:\n  base_url: [x]\n",
            "env.yaml:2: resource_registry.base_url: 'base_url' must be a string",
        ),
    ],
)
def test_section_errors(text, message):
    with pytest.raises(TemplateError) as caught:
        env(text)
    assert str(caught.value) == message


def test_merge_later_wins_key_by_key():
    first = env("parameters: {a: 1, b: 1}\nparameter_defaults: {x: 1}\n", "one.yaml")
    second = env("parameters: {b: 2}\nparameter_defaults: {x: 2, y: 2}\n", "two.yaml")
    merged = merge_environments([first, second])
    assert (merged.parameters, merged.parameter_defaults) == ({"a": 1, "b": 2}, {"x": 2, "y": 2})
    assert merged.filename == "one.yaml, two.yaml"
    assert first.parameters == {"a": 1, "b": 1}


def test_merge_registry_and_per_resource_overrides():
    first = env("""\
        resource_registry:
          OS::A: OS::B
          OS::C: OS::D
          resources:
            web: {OS::A: web_a.yaml, hooks: pre-create}
            db: {OS::A: db_a.yaml}
        """)
    second = env("""\
        resource_registry:
          OS::C: OS::E
          resources:
            web: {OS::A: web_b.yaml}
        """)
    merged = merge_environments([first, second])
    assert merged.resource_registry == {
        "OS::A": "OS::B",
        "OS::C": "OS::E",
        "resources": {"web": {"OS::A": "web_b.yaml", "hooks": "pre-create"}, "db": {"OS::A": "db_a.yaml"}},
    }


def test_merge_of_nothing_is_empty():
    assert merge_environments([]) == Environment()


REGISTRY = """\
    resource_registry:
      OS::Nova::*: OS::Heat::None
      OS::Nova::Server: Hearth::Server
      Hearth::Server: Hearth::Compute::Server
      OS::Heat::*: OS::Heat::None
      Legacy::*: Hearth::*
      My::Provider: templates/provider.yaml
      My::Other: other.template
      resources:
        db:
          OS::Nova::Server: db_server.yaml
          hooks: [pre-create]
    """


@pytest.mark.parametrize(
    "resource, type_name, resolved",
    [
        # Heat takes the matching mappings in the order of their keys: "OS::Nova::*" comes before
        # "OS::Nova::Server", so the glob wins over the exact name.
        ("web", "OS::Nova::Server", "OS::Heat::None"),
        ("web", "Hearth::Server", "Hearth::Compute::Server"),
        ("web", "OS::Nova::Flavor", "OS::Heat::None"),
        ("web", "OS::Heat::None", "OS::Heat::None"),
        ("web", "Legacy::Compute::Server", "Hearth::Compute::Server"),
        ("web", "My::Provider", "templates/provider.yaml"),
        ("web", "My::Other", "other.template"),
        ("web", "OS::Neutron::Port", "OS::Neutron::Port"),
        ("db", "OS::Nova::Server", "db_server.yaml"),
        ("db", "OS::Nova::Flavor", "OS::Heat::None"),
        ("web", "nested.yaml", "nested.yaml"),
    ],
)
def test_resolve_type(resource, type_name, resolved):
    assert env(REGISTRY).resolve_type(resource, type_name) == resolved


def test_alias_loop_is_an_error_when_resolving():
    environment = env("resource_registry:\n  OS::A: OS::B\n  OS::B: OS::C\n  OS::C: OS::A\n")
    with pytest.raises(TemplateError) as caught:
        environment.resolve_type("web", "OS::A")
    assert (
        str(caught.value)
        == "env.yaml: resource_registry.OS::A: resource_registry mappings loop: OS::A -> OS::B -> OS::C -> OS::A"
    )


def test_glob_that_never_settles_is_an_error():
    with pytest.raises(TemplateError) as caught:
        env('resource_registry:\n  "A::*": "A::B::*"\n').resolve_type("web", "A::X")
    assert caught.value.reason.startswith("resource_registry mappings loop: A::X -> A::B::X -> A::B::B::X")


def test_a_glob_maps_onto_a_glob_keeping_the_matched_suffix():
    environment = env('resource_registry:\n  "My::*": "OS::Heat::*"\n')
    assert environment.resolve_type("v", "My::Value", {"OS::Heat::Value"}) == "OS::Heat::Value"
    assert environment.registrations("v", "My::Value", {"OS::Heat::Value"}) == {"My::Value": "OS::Heat::*"}


def test_a_mapping_to_an_unknown_type_gives_way_to_the_next_one():
    environment = env('resource_registry:\n  "A::*": "Nobody::*"\n  "A::B": OS::Heat::None\n')
    assert environment.resolve_type("r", "A::B", {"OS::Heat::None"}) == "OS::Heat::None"
    with pytest.raises(TemplateError) as caught:
        environment.resolve_type("r", "A::C", {"OS::Heat::None"})
    assert caught.value.reason == "The Resource Type (A::C) could not be found."


def test_a_template_name_registers_itself():
    assert env("").registrations("n", "inner.yaml") == {"inner.yaml": "inner.yaml"}


@pytest.mark.parametrize(
    "resource, type_name, facade",
    [
        # The resource's own mapping passed over, the type's global one is the facade.
        ("db", "OS::Nova::Server", "OS::Heat::None"),
        # A global mapping to a template passed over: the built-in type, when there is one.
        ("web", "My::Provider", None),
        ("web", "OS::Heat::RandomString", "OS::Heat::RandomString"),
        # A type that is a template name stands in for nothing.
        ("web", "nested.yaml", None),
    ],
)
def test_a_provider_stands_in_for_the_next_resolution_of_its_type(resource, type_name, facade):
    known = {"OS::Heat::None", "OS::Heat::RandomString", "Hearth::Compute::Server"}
    environment = env(REGISTRY + "      OS::Heat::RandomString: random.yaml\n")
    provider = environment.resolve_type(resource, type_name, known)
    assert environment.facade(resource, type_name, provider, known) == facade


def test_a_provider_over_a_provider_stands_in_for_that_one():
    environment = env(
        "resource_registry:\n  OS::Thingy: facade.yaml\n  resources:\n    thisone: {OS::Thingy: concrete.yaml}\n"
    )
    assert environment.resolve_type("thisone", "OS::Thingy", set()) == "concrete.yaml"
    assert environment.facade("thisone", "OS::Thingy", "concrete.yaml", set()) == "facade.yaml"
    assert environment.facade("other", "OS::Thingy", "facade.yaml", set()) is None


def test_loop_across_merged_files_is_found_when_resolving():
    merged = merge_environments(
        [env("resource_registry: {OS::A: OS::B}\n", "a.yaml"), env("resource_registry: {OS::B: OS::A}\n", "b.yaml")]
    )
    with pytest.raises(TemplateError) as caught:
        merged.resolve_type("web", "OS::A")
    assert (
        str(caught.value)
        == "a.yaml, b.yaml: resource_registry.OS::A: resource_registry mappings loop: OS::A -> OS::B -> OS::A"
    )


def test_parsed_data_is_accepted_and_copied():
    source = {"parameters": {"a": [1]}}
    environment = parse_environment(source)
    source["parameters"]["a"].append(2)
    assert environment.parameters == {"a": [1]}


def test_source_of_another_kind_is_refused():
    with pytest.raises(TemplateError) as caught:
        parse_environment(["parameters"], "env.yaml")
    assert str(caught.value) == "env.yaml: expected environment text or a map, not list"
