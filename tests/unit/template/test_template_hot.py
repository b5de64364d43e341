"""Tests for engine.template.hot: parse_template's checks, with file, line and path, and the Template it returns."""

from __future__ import annotations

import textwrap

import pytest

from engine.errors import DependencyCycle, TemplateError
from engine.orchestration.graph import Readiness
from engine.template import VERSIONS, parse_template
from engine.template.context import ParameterContext
from engine.template.functions import unavailable_for
from engine.template.parameters import MISSING


def creation_order(template) -> list[str]:
    """The order a create starts the resources in: engine.orchestration.graph.Readiness, as a run
    uses it, each resource done as soon as it is taken."""
    requires = {name: sorted(needs) for name, needs in template.dependencies().items()}
    ready, order = Readiness(requires, requires), []
    while batch := ready.take():
        for name in batch:
            order.append(name)
            ready.done(name)
    return order


def parse(text: str, **kwargs):
    return parse_template(textwrap.dedent(text), filename="web.yaml", **kwargs)


def error_of(text: str, **kwargs) -> str:
    with pytest.raises(TemplateError) as caught:
        parse(text, **kwargs)
    return str(caught.value)


WEB = """\
    heat_template_version: 2015-10-15
    description: A web server
    parameters:
      image:
        type: string
        default: cirros
    resources:
      db:
        type: OS::Nova::Server
      web:
        type: OS::Nova::Server
        properties:
          image: {get_param: image}
          db_host: {get_attr: [db, first_address]}
        metadata:
          port: {get_resource: port}
      port:
        type: OS::Neutron::Port
        depends_on: [db]
    outputs:
      address:
        description: where to browse
        value: {get_attr: [web, first_address]}
    """


def test_template_attributes():
    template = parse(WEB)
    assert template.filename == "web.yaml"
    assert template.version == "2015-10-15"
    assert template.description == "A web server"
    assert template.raw["resources"]["db"] == {"type": "OS::Nova::Server"}
    assert list(template.resources) == ["db", "web", "port"]
    web = template.resources["web"]
    assert (web.name, web.type, web.line) == ("web", "OS::Nova::Server", 10)
    assert web.properties == {"image": {"get_param": "image"}, "db_host": {"get_attr": ["db", "first_address"]}}
    assert template.resources["port"].depends_on == ["db"]
    output = template.outputs["address"]
    assert (output.description, output.value, output.line) == (
        "where to browse",
        {"get_attr": ["web", "first_address"]},
        21,
    )
    assert template.parameters["image"].default == "cirros"


def test_description_is_empty_when_absent():
    template = parse("heat_template_version: 2013-05-23\n")
    assert (template.description, template.resources, template.outputs) == ("", {}, {})


def test_dependencies_come_from_get_resource_get_attr_and_depends_on():
    template = parse(WEB)
    assert template.dependencies() == {"db": set(), "web": {"db", "port"}, "port": {"db"}}
    assert creation_order(template) == ["db", "port", "web"]


@pytest.mark.parametrize("name, date", sorted(VERSIONS.items()))
def test_every_version_and_release_name_is_accepted(name, date):
    assert parse(f"heat_template_version: {name}\n").version == date


def test_release_names_map_to_their_dates():
    assert VERSIONS["newton"] == "2016-10-14" and VERSIONS["wallaby"] == "2021-04-16"
    assert len(VERSIONS) == 17


def test_missing_version():
    assert error_of("resources: {}\n") == ("web.yaml: Template not in valid format: Template format version not found.")


def test_unknown_version():
    assert error_of("description: x\nheat_template_version: 2012-12-12\n").startswith(
        'web.yaml:2: heat_template_version: The template version is invalid: "heat_template_version: 2012-12-12". "heat_template_version" should be one of: 2013-05-23, 2014-10-16, 2015-04-30, 2015-10-15, 2016-04-08, 2016-10-14, 2017-02-24, 2017-09-01, 2018-03-02, 2018-08-31, 2021-04-16, newton, ocata, pike, queens, rocky, wallaby'
    )


def test_unknown_section():
    assert error_of("heat_template_version: 2013-05-23\nresource: {}\n") == (
        "web.yaml:2: resource: The template section is invalid: resource"
    )


def test_conditions_need_2016_10_14():
    assert error_of("heat_template_version: 2016-04-08\nconditions: {}\n") == (
        "web.yaml:2: conditions: The template section is invalid: conditions"
    )
    assert parse("heat_template_version: newton\nconditions: {prod: true}\n").conditions == {"prod": True}


def test_resource_without_type():
    text = """\
        heat_template_version: 2013-05-23
        resources:
          web:
            properties: {}
        """
    assert error_of(text) == "web.yaml:3: resources.web: Each resource must contain a type key."


def test_resource_with_unknown_key():
    text = """\
        heat_template_version: 2013-05-23
        resources:
          web:
            type: OS::Nova::Server
            propertes: {}
        """
    assert error_of(text).startswith(
        'web.yaml:5: resources.web.propertes: "propertes" is not a valid keyword inside a resource definition (allowed: type, properties, metadata, depends_on, deletion_policy, update_policy, description, condition, external_id)'
    )


def test_resource_must_be_a_map():
    assert error_of("heat_template_version: 2013-05-23\nresources:\n  web: OS::Nova::Server\n") == (
        "web.yaml:3: resources.web: \"resources\" must contain a map of resource maps. Found a [<class 'str'>] instead"
    )


def test_properties_must_be_a_map():
    text = """\
        heat_template_version: 2013-05-23
        resources:
          web:
            type: OS::Nova::Server
            properties: [image]
        """
    assert error_of(text) == "web.yaml:5: resources.web.properties: Resource web properties type must be object"


def test_condition_and_external_id_need_2016_10_14():
    text = """\
        heat_template_version: 2016-04-08
        resources:
          web:
            type: OS::Nova::Server
            external_id: abc
        """
    assert error_of(text) == (
        "web.yaml:5: resources.web.external_id: Invalid keyword(s) inside a resource definition: external_id"
    )


def test_resource_condition_must_be_declared():
    text = """\
        heat_template_version: 2016-10-14
        conditions:
          prod: true
        resources:
          web:
            type: OS::Nova::Server
            condition: staging
        """
    assert error_of(text) == 'web.yaml:7: resources.web.condition: Invalid condition "staging"'


@pytest.mark.parametrize(
    "depends_on, line, message",
    [
        ("missing", 6, 'resources.web.depends_on.0: The specified reference "missing" (in web) is incorrect.'),
        ("[3]", 6, "resources.web.depends_on.0: Resource web depends_on must be a list of strings"),
    ],
)
def test_depends_on_must_name_other_resources(depends_on, line, message):
    text = f"""\
        heat_template_version: 2013-05-23
        resources:
          db: {{type: X}}
          web:
            type: X
            depends_on: {depends_on}
        """
    assert error_of(text) == f"web.yaml:{line}: {message}"


def test_deletion_policy():
    text = """\
        heat_template_version: 2013-05-23
        resources:
          web:
            type: X
            deletion_policy: Keep
        """
    assert error_of(text) == ('web.yaml:5: resources.web.deletion_policy: Invalid deletion policy "Keep"')
    lower = text.replace("2013-05-23", "2016-10-14").replace("Keep", "retain")
    assert parse(lower).resources["web"].deletion_policy == "Retain"
    assert 'Invalid deletion policy "retain"' in error_of(text.replace("Keep", "retain"))


def test_output_needs_a_value():
    text = """\
        heat_template_version: 2013-05-23
        outputs:
          address:
            description: where
        """
    assert (
        error_of(text)
        == "web.yaml:3: Output validation error: outputs.address: Each output definition must contain a value key."
    )


def test_unknown_function_argument_shape_is_located():
    text = """\
        heat_template_version: 2015-10-15
        resources:
          web:
            type: X
            properties:
              image: {str_replace: [a]}
        """
    assert error_of(text) == (
        'web.yaml:6: resources.web.properties.image.str_replace: Arguments to "str_replace" must be a map'
    )


def test_get_attr_of_unknown_resource():
    text = """\
        heat_template_version: 2015-10-15
        resources:
          web:
            type: X
            properties:
              networks:
                - address: {get_attr: [db, first_address]}
        outputs:
          ok: {value: 1}
        """
    assert error_of(text) == (
        'web.yaml:7: resources.web.properties.networks.0.address: The specified reference "db" (in web.Properties.networks.0.address) is incorrect.'
    )


def test_get_resource_of_unknown_resource_in_outputs():
    text = """\
        heat_template_version: 2013-05-23
        resources:
          web: {type: X}
        outputs:
          id:
            value: {get_resource: wbe}
        """
    # Heat finds it when it shows the output (its output_error), not before.
    parse(text)


def test_get_param_must_name_a_declared_or_pseudo_parameter():
    text = """\
        heat_template_version: 2013-05-23
        resources:
          web:
            type: X
            metadata:
              stack: {get_param: OS::stack_name}
              flavor: {get_param: flavour}
        """
    # Heat looks parameters up when it resolves them, and so does Hearth.
    parse(text)


def test_nested_calls_are_checked_with_their_path():
    text = """\
        heat_template_version: 2015-10-15
        resources:
          web:
            type: X
            properties:
              user_data:
                str_replace:
                  template: "$host"
                  params:
                    $host: {get_attr: [nowhere, ip]}
        """
    assert error_of(text) == (
        'web.yaml:10: resources.web.properties.user_data.str_replace.params.$host: The specified reference "nowhere" (in web.Properties.user_data.str_replace.params.$host) is incorrect.'
    )


def test_functions_follow_the_template_version():
    text = """\
        heat_template_version: 2013-05-23
        resources:
          db: {type: X}
          web:
            type: X
            properties:
              all: {get_attr: [db]}
        """
    assert error_of(text) == (
        'web.yaml:7: resources.web.properties.all.get_attr: Arguments to "get_attr" must be of the form [resource_name, attribute, (path), ...]'
    )
    assert parse(text.replace("2013-05-23", "2015-10-15")).dependencies()["web"] == {"db"}


def test_every_function_heat_offers_is_evaluated():
    # Nothing Heat evaluates is left as "not supported by Hearth yet" in any version.
    from engine.template.versions import VERSIONS

    waiting = {
        version: [name for name, reason in unavailable_for(version).items() if "by Hearth yet" in reason]
        for version in set(VERSIONS.values())
    }
    assert waiting == {version: [] for version in waiting}


def test_functions_added_later_need_their_version():
    text = """\
        heat_template_version: 2015-04-30
        resources:
          web:
            type: X
            properties:
              names: {str_split: [",", "a,b"]}
        """
    # Before 2015-10-15 str_split is no function: the map is data, to Heat and Hearth alike.
    assert parse(text).resolve({"str_split": [",", "a,b"]}, None) == {"str_split": [",", "a,b"]}
    assert parse(text.replace("2015-04-30", "2015-10-15")).resolve({"str_split": [",", "a,b"]}, None) == ["a", "b"]


def test_removed_functions_are_refused():
    text = """\
        heat_template_version: 2014-10-16
        resources:
          web:
            type: X
            properties:
              name: {Ref: OS::stack_name}
        """
    assert error_of(text) == (
        "web.yaml:6: resources.web.properties.name.Ref: The template version is invalid: The function Ref is not supported in this version of HOT."
    )


def test_condition_function_names_are_data_outside_conditions():
    # equals, not, and, or are functions in conditions only; elsewhere Heat passes them on.
    text = """\
        heat_template_version: 2016-10-14
        resources:
          web:
            type: X
            properties:
              rule: {equals: [a, b]}
        """
    template = parse(text)
    assert template.resolve(template.resources["web"].properties, None) == {"rule": {"equals": ["a", "b"]}}


def test_get_file_is_checked_against_a_given_files_map():
    text = """\
        heat_template_version: 2013-05-23
        resources:
          web:
            type: X
            properties:
              user_data: {get_file: boot.sh}
        """
    assert parse(text).files == {}
    assert parse(text, files={"boot.sh": "#!/bin/sh"}).files == {"boot.sh": "#!/bin/sh"}
    template = parse(text, files={"other.sh": ""})
    with pytest.raises(TemplateError) as caught:
        template.resolve(
            template.resources["web"].properties,
            ParameterContext({}, files={"other.sh": ""}),
            ("resources", "web", "properties"),
        )
    assert str(caught.value) == (
        "web.yaml:6: resources.web.properties.user_data: No content found in the "
        '"files" section for get_file path: boot.sh'
    )


def test_cycle_is_reported_with_members_in_order():
    text = """\
        heat_template_version: 2013-05-23
        resources:
          a:
            type: X
            properties: {x: {get_resource: b}}
          b:
            type: X
            properties: {x: {get_attr: [c, id]}}
          c:
            type: X
            depends_on: a
        """
    with pytest.raises(DependencyCycle) as caught:
        parse(text)
    assert caught.value.members == ["a", "b", "c"]
    assert str(caught.value) == "web.yaml: resources: Circular Dependency Found: a -> b -> c -> a"


def test_self_reference_is_a_cycle_of_one():
    text = "heat_template_version: 2013-05-23\nresources:\n  a:\n    type: X\n    properties: {me: {get_resource: a}}\n"
    with pytest.raises(DependencyCycle) as caught:
        parse(text)
    assert caught.value.members == ["a"]


def test_parsed_data_is_located_by_file_and_path_only():
    source = {"heat_template_version": "2013-05-23", "resources": {"web": {"type": "X", "deps": 1}}}
    with pytest.raises(TemplateError) as caught:
        parse_template(source, filename="web.yaml")
    assert str(caught.value).startswith(
        'web.yaml: resources.web.deps: "deps" is not a valid keyword inside a resource definition (allowed: type, properties, metadata, depends_on, deletion_policy, update_policy, description, condition, external_id)'
    )


def test_parsed_data_is_copied():
    source = {"heat_template_version": "2013-05-23", "resources": {"web": {"type": "X", "properties": {"a": 1}}}}
    template = parse_template(source)
    source["resources"]["web"]["properties"]["a"] = 2
    assert template.resources["web"].properties == {"a": 1}
    assert template.filename == "template"


def test_source_of_another_kind_is_refused():
    with pytest.raises(TemplateError) as caught:
        parse_template(["heat_template_version"], filename="web.yaml")
    assert str(caught.value) == "web.yaml: expected template text or a map, not list"


def test_line_for_uses_the_longest_known_prefix():
    template = parse(WEB)
    assert template.line_for(("resources", "web", "properties", "image")) == 13
    assert template.line_for(("resources", "web", "properties", "image", "nothing", "here")) == 13
    assert template.line_for(("nowhere",)) is None
    assert parse_template({"heat_template_version": "2013-05-23"}).line_for(("resources",)) is None


def test_error_locates_a_message_for_the_engine():
    error = parse(WEB).error("value must be a string", ("resources", "web", "properties", "image"))
    assert str(error) == "web.yaml:13: resources.web.properties.image: value must be a string"


def test_parameter_groups():
    base = """\
        heat_template_version: 2013-05-23
        parameters:
          a: {type: string}
          b: {type: string}
        parameter_groups:
          - label: first
            parameters: [a]
          - label: second
            parameters: [%s]
        """
    assert parse(base % "b").parameter_groups[1] == {"label": "second", "parameters": ["b"]}
    assert (
        error_of(base % "a")
        == "web.yaml:5: Parameter Groups error: parameter_groups.: The a parameter must be assigned to one parameter group only."
    )
    assert (
        error_of(base % "c")
        == "web.yaml:5: Parameter Groups error: parameter_groups.second: The grouped parameter c does not reference a valid parameter."
    )


def test_parameter_declaration_errors_are_located():
    text = """\
        heat_template_version: 2013-05-23
        parameters:
          port:
            type: integer
        """
    assert error_of(text) == ("web.yaml:4: parameters.port.type: Invalid type (integer)")


def test_hidden_parameters():
    text = """\
        heat_template_version: 2013-05-23
        parameters:
          password: {type: string, hidden: true}
          user: {type: string, default: admin}
        """
    template = parse(text)
    assert template.hidden_parameters() == {"password"}
    assert template.parameters["password"].default is MISSING


RESOLVING = """\
    heat_template_version: 2015-10-15
    parameters:
      port: {type: number, default: 80}
    resources:
      db: {type: X}
      web:
        type: X
        properties:
          url:
            list_join:
              - ":"
              - [{get_attr: [db, address]}, {get_param: port}]
          plain: [1, {nested: true}]
    """


def test_resolve_evaluates_nested_calls(fake_stack):
    template = parse(
        RESOLVING.replace("{get_param: port}", "{str_replace: {template: P, params: {P: {get_param: port}}}}")
    )
    stack = fake_stack(params={"port": 80}, attributes={"db": {"address": "10.0.0.2"}})
    properties = template.resources["web"].properties
    assert template.resolve(properties, stack) == {"url": "10.0.0.2:80", "plain": [1, {"nested": True}]}


def test_resolution_errors_name_the_call_line_and_path(fake_stack):
    template = parse(RESOLVING)
    stack = fake_stack(params={"port": 80}, attributes={"db": {"address": "10.0.0.2"}})
    with pytest.raises(TemplateError) as caught:
        template.resolve(template.resources["web"].properties, stack, ("resources", "web", "properties"))
    assert str(caught.value) == (
        "web.yaml:9: resources.web.properties.url: Items to join must be string, map or list not 80"
    )


def test_resolution_errors_of_nested_calls_keep_their_own_path(fake_stack):
    template = parse(RESOLVING.replace("{get_param: port}", "{get_file: port.txt}"))
    with pytest.raises(TemplateError) as caught:
        template.resolve(
            template.resources["web"].properties,
            fake_stack(attributes={"db": {"address": "a"}}),
            ("resources", "web", "properties"),
        )
    assert str(caught.value) == (
        'web.yaml:12: resources.web.properties.url.list_join.1.1: No content found in the "files" section for get_file path: port.txt'
    )


def test_resolve_checks_arguments_of_snippets_from_elsewhere(fake_stack):
    template = parse(RESOLVING)
    with pytest.raises(TemplateError) as caught:
        template.resolve({"x": {"get_resource": 7}}, fake_stack(), ("outputs", "extra", "value"))
    assert (
        str(caught.value) == 'web.yaml: outputs.extra.value.x: The specified reference "7" (in unknown) is incorrect.'
    )


def test_resolve_leaves_plain_data_and_non_calls_alone(fake_stack):
    template = parse(RESOLVING)
    snippet = {"a": {"get_param": "port", "other": 1}, "b": [None, 2.5], "c": {"unknown_fn": 1}}
    assert template.resolve(snippet, fake_stack()) == snippet


def test_deeply_nested_data_is_an_error_not_a_crash(fake_stack):
    deep = "leaf"
    for _ in range(5000):
        deep = [deep]
    source = {"heat_template_version": "2013-05-23", "resources": {"web": {"type": "X", "properties": {"p": deep}}}}
    with pytest.raises(TemplateError) as caught:
        parse_template(source, filename="deep.json")
    assert str(caught.value) == "deep.json: the template is nested too deeply"
    template = parse_template({"heat_template_version": "2013-05-23"}, filename="t.json")
    with pytest.raises(TemplateError) as caught:
        template.resolve(deep, fake_stack(), ("outputs", "o", "value"))
    assert str(caught.value) == "t.json: outputs.o.value: the snippet is nested too deeply to resolve"
