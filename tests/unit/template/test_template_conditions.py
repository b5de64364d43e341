"""Tests for the conditions machinery (engine.template.conditions) and Template.with_conditions."""

from __future__ import annotations

import pytest

from engine.errors import TemplateError
from engine.orchestration.graph import Readiness
from engine.template.conditions import CONDITION, VALUE, Vocabulary, calls_in
from engine.template.functions import condition_functions_for, functions_for, unavailable_for

STACK = """\
    parameters:
      env: {type: string, default: dev}
      policy: {type: string, default: Delete}
    conditions:
      prod: {equals: [{get_param: env}, prod]}
      dev: {not: prod}
      named_a: {equals: [{get_param: OS::stack_name}, a]}
    resources:
      db:
        type: X
        condition: prod
      cache:
        type: X
        condition: dev
      web:
        type: X
        depends_on: [db, cache]
        deletion_policy: {if: [prod, retain, {get_param: policy}]}
        properties:
          # Heat refuses a property naming a resource its condition leaves out: an `if` chooses.
          db: {if: [prod, {get_attr: [db, address]}, null]}
          cache: {if: [dev, {get_resource: cache}, null]}
      always:
        type: X
        condition: true
      never:
        type: X
        condition: false
    outputs:
      db_address:
        value: {get_attr: [db, address]}
        condition: prod
      web:
        value: {get_resource: web}
    """


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


@pytest.fixture
def stack_template(hot):
    return hot.parse("2016-10-14", STACK)


def test_a_parsed_template_keeps_everything_and_has_no_values_yet(stack_template):
    assert list(stack_template.resources) == ["db", "cache", "web", "always", "never"]
    assert stack_template.condition_values is None and stack_template.disabled_resources == frozenset()
    assert stack_template.dependencies()["web"] == {"db", "cache"}


@pytest.mark.parametrize(
    "env, values, resources, outputs, web_needs, policy",
    [
        (
            "prod",
            {"prod": True, "dev": False, "named_a": True},
            ["db", "web", "always"],
            ["db_address", "web"],
            {"db"},
            "Retain",
        ),
        (
            "dev",
            {"prod": False, "dev": True, "named_a": True},
            ["cache", "web", "always"],
            ["web"],
            {"cache"},
            "Delete",
        ),
    ],
)
def test_with_conditions_keeps_what_is_enabled(stack_template, env, values, resources, outputs, web_needs, policy):
    derived = stack_template.with_conditions({"env": env, "policy": "Delete"}, {"OS::stack_name": "a"})
    assert derived.condition_values == values
    assert list(derived.resources) == resources and list(derived.outputs) == outputs
    assert derived.dependencies()["web"] == web_needs
    assert derived.resources["web"].depends_on == sorted(web_needs)
    assert derived.resources["web"].deletion_policy == policy
    order = creation_order(derived)
    assert all(order.index(needed) < order.index("web") for needed in web_needs)
    # The parsed template is left as it was.
    assert list(stack_template.resources) == ["db", "cache", "web", "always", "never"]


def test_left_out_resources_are_chosen_away_by_if(stack_template, fake_stack):
    derived = stack_template.with_conditions({"env": "dev", "policy": "Delete"}, {"OS::stack_name": "a"})
    stack = fake_stack(resources={"cache": "cache-id"}, attributes={"db": {"address": "stale"}})
    assert derived.resolve(derived.resources["web"].properties, stack) == {"db": None, "cache": "cache-id"}
    assert ("get_attr", "db", "address") not in stack.asked


def test_with_conditions_starts_from_the_parsed_template_each_time(stack_template):
    dev = stack_template.with_conditions({"env": "dev", "policy": "Delete"}, {"OS::stack_name": "a"})
    prod = dev.with_conditions({"env": "prod", "policy": "Delete"}, {"OS::stack_name": "a"})
    assert list(prod.resources) == ["db", "web", "always"] and prod.condition_values["prod"] is True


def test_resolve_before_with_conditions_evaluates_conditions_through_the_context(stack_template, fake_stack):
    stack = fake_stack(params={"env": "prod", "policy": "Delete"})
    assert stack_template.resolve({"if": ["dev", "d", "p"]}, stack) == "p"


def test_a_template_without_anything_conditional_is_returned_as_it_is(hot):
    template = hot.parse("2016-10-14", "resources:\n  web: {type: X, deletion_policy: retain}\n")
    assert template.with_conditions({}, {}) is template
    assert template.condition_values == {} and template.resources["web"].deletion_policy == "Retain"


def test_an_if_alone_makes_a_template_conditional(hot):
    template = hot.parse(
        "2016-10-14",
        """\
        resources:
          a: {type: X}
          b:
            type: X
            properties: {x: {if: [false, {get_resource: a}, none]}}
        """,
    )
    derived = template.with_conditions({}, {})
    assert derived is not template and derived.condition_values == {}
    assert (template.dependencies()["b"], derived.dependencies()["b"]) == ({"a"}, set())


def test_conditions_are_evaluated_once_each(hot, fake_stack):
    template = hot.parse(
        "2016-10-14",
        """\
        parameters:
          env: {type: string}
        conditions:
          prod: {equals: [{get_param: env}, prod]}
        outputs:
          o: {value: [{if: [prod, a, b]}, {if: [prod, c, d]}]}
        """,
    )
    stack = fake_stack(params={"env": "prod"})
    assert template.resolve(template.outputs["o"].value, stack) == ["a", "c"]
    assert stack.asked.count(("get_param", "env")) == 1


@pytest.mark.parametrize(
    "conditions, message",
    [
        ("a: b", 'web.yaml: Condition validation error: The definition of condition "a" is invalid: b'),
        ("a: 1", 'web.yaml: Condition validation error: The definition of condition "a" is invalid: 1'),
        (
            "a: {get_resource: web}",
            'web.yaml:3: conditions.a.get_resource: The function "get_resource" is invalid in this context',
        ),
        (
            "a: {equals: [{str_replace: {template: x, params: {}}}, x]}",
            'web.yaml:3: conditions.a.equals.0.str_replace: The function "str_replace" is invalid in this context',
        ),
        ("a: {not: b}", 'web.yaml:3: conditions.a.not: Invalid condition "b"'),
        ("a: {not: a}", 'web.yaml: Condition validation error: Circular definition for condition "a"'),
        (
            "a: {not: b}\n  b: {and: [true, a]}",
            'web.yaml: Condition validation error: Circular definition for condition "a"',
        ),
        (
            "a: {Fn::Equals: [1, 1]}",
            "web.yaml: Condition validation error: The definition of condition \"a\" is invalid: {'Fn::Equals': [1, 1]}",
        ),
    ],
)
def test_conditions_section_errors(hot, conditions, message):
    assert hot.error("2016-10-14", f"conditions:\n  {conditions}\nresources:\n  web: {{type: X}}\n") == message


@pytest.mark.parametrize(
    "condition, message",
    [
        ("staging", 'web.yaml:7: resources.web.condition: Invalid condition "staging"'),
        (
            "{get_attr: [db, ip]}",
            'web.yaml:7: resources.web.condition.get_attr: The function "get_attr" is invalid in this context',
        ),
        (
            "{equals: [1]}",
            'web.yaml:7: resources.web.condition.equals: Arguments to "equals" must be of the form: [value_1, value_2]',
        ),
        ("[prod]", "web.yaml:7: resources.web.condition: Invalid condition \"['prod']\""),
    ],
)
def test_resource_condition_errors(hot, condition, message):
    assert (
        hot.error(
            "2016-10-14",
            f"""\
        conditions:
          prod: true
        resources:
          web:
            type: X
            condition: {condition}
          db: {{type: X}}
        """,
        )
        == message
    )


def test_a_loop_through_a_parameter_is_found_when_evaluated(hot):
    template = hot.parse(
        "2016-10-14",
        """\
        parameters:
          other: {type: string}
        conditions:
          a: {not: {get_param: other}}
          b: {and: [a, true]}
        """,
    )
    with pytest.raises(TemplateError) as caught:
        template.with_conditions({"other": "b"}, {})
    assert str(caught.value) == 'web.yaml: Condition validation error: Circular definition for condition "a"'
    with pytest.raises(TemplateError) as caught:
        template.with_conditions({"other": "a"}, {})
    assert str(caught.value) == 'web.yaml: Condition validation error: Circular definition for condition "a"'


def test_a_condition_that_is_not_a_boolean_is_an_error(hot):
    template = hot.parse(
        "2016-10-14",
        """\
        parameters:
          flag: {type: string}
        conditions:
          enabled: {get_param: flag}
        """,
    )
    with pytest.raises(TemplateError) as caught:
        template.with_conditions({"flag": "yes"}, {})
    assert (
        str(caught.value)
        == 'web.yaml: Condition validation error: The definition of condition "enabled" is invalid: yes'
    )


def test_a_condition_naming_another_through_a_parameter(hot):
    template = hot.parse(
        "2016-10-14",
        """\
        parameters:
          which: {type: string}
        conditions:
          left: true
          right: false
          chosen: {and: [{get_param: which}, true]}
        """,
    )
    assert template.with_conditions({"which": "left"}, {}).condition_values["chosen"] is True
    assert template.with_conditions({"which": "right"}, {}).condition_values["chosen"] is False
    with pytest.raises(TemplateError) as caught:
        template.with_conditions({"which": "maybe"}, {})
    assert str(caught.value) == ('web.yaml:7: conditions.chosen: Invalid condition "maybe"')


def test_a_bad_deletion_policy_from_a_function_names_file_line_and_path(hot):
    template = hot.parse(
        "2016-10-14",
        """\
        parameters:
          policy: {type: string}
        resources:
          web:
            type: X
            deletion_policy: {get_param: policy}
        """,
    )
    assert template.with_conditions({"policy": "snapshot"}, {}).resources["web"].deletion_policy == "Snapshot"
    with pytest.raises(TemplateError) as caught:
        template.with_conditions({"policy": "Keep"}, {})
    assert str(caught.value) == ('web.yaml:7: resources.web.deletion_policy: Invalid deletion policy "Keep"')


def test_calls_in_walks_conditions_in_condition_mode():
    vocabulary = Vocabulary(
        functions_for("2017-09-01"), condition_functions_for("2017-09-01"), unavailable_for("2017-09-01")
    )
    snippet = {"a": {"if": [{"equals": [{"get_param": "p"}, 1]}, {"get_resource": "r"}, {"equals": [1, 1]}]}}
    found = [(name, path, mode) for name, _, path, mode in calls_in(snippet, ("x",), VALUE, vocabulary)]
    assert found == [
        ("if", ("x", "a"), VALUE),
        ("equals", ("x", "a", "if", 0), CONDITION),
        ("get_param", ("x", "a", "if", 0, "equals", 0), CONDITION),
        ("get_resource", ("x", "a", "if", 1), VALUE),
    ]
    chosen = [
        name
        for name, _, _, _ in calls_in(
            snippet,
            (),
            VALUE,
            vocabulary,
            lambda function, args, path: [(2,)] if args and isinstance(args, list) and len(args) == 3 else None,
        )
    ]
    assert chosen == ["if"]


def test_calls_in_a_very_deep_snippet_do_not_exhaust_the_stack():
    vocabulary = Vocabulary(functions_for("2016-10-14"), condition_functions_for("2016-10-14"), {})
    snippet = {"get_param": "p"}
    for _ in range(5000):
        snippet = [snippet]
    assert [name for name, _, _, _ in calls_in(snippet, (), VALUE, vocabulary)] == ["get_param"]
