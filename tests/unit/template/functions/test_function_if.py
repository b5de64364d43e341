"""Tests for if: if_condition (2021-04-16 on, the value for false may be left out) and if_condition_both (2016-10-14 to 2018-08-31)."""

from __future__ import annotations

import pytest

from engine.errors import TemplateError
from engine.template.functions import if_condition, if_condition_both
from engine.template.functions.args import OMITTED


def literal(snippet, *segments):
    return snippet


@pytest.mark.parametrize("module", [if_condition, if_condition_both])
@pytest.mark.parametrize("condition, value", [("prod", "big"), ("dev", "small"), (True, "big"), (False, "small")])
def test_chooses_by_condition(fake_stack, module, condition, value):
    stack = fake_stack(conditions={"prod": True, "dev": False})
    assert module.resolve([condition, "big", "small"], literal, stack) == value


def test_only_the_chosen_value_is_resolved(fake_stack):
    evaluated = []

    def evaluate(snippet, *segments):
        evaluated.append(segments)
        return snippet

    assert if_condition.resolve(
        ["prod", {"get_attr": ["a", "x"]}, {"get_attr": ["b", "x"]}], evaluate, fake_stack(conditions={"prod": True})
    ) == {"get_attr": ["a", "x"]}
    assert evaluated == [(0,), (1,)]


def test_from_2021_04_16_the_value_for_false_may_be_left_out(fake_stack):
    stack = fake_stack(conditions={"prod": True, "dev": False})
    assert if_condition.resolve(["prod", "x"], literal, stack) == "x"
    assert if_condition.resolve(["dev", "x"], literal, stack) is OMITTED


def test_the_condition_is_the_first_argument_and_branches_follow_it():
    assert if_condition.conditions_in(["c", 1, 2]) == [(0,)]
    assert (if_condition.branch(["c", 1, 2], True), if_condition.branch(["c", 1, 2], False)) == (1, 2)
    assert if_condition.branch(["c", 1], False) is None


@pytest.mark.parametrize(
    "module, args, reason",
    [
        (
            if_condition,
            "prod",
            'Arguments to "if" must be of the form: [condition_name, value_if_true, value_if_false]',
        ),
        (
            if_condition,
            ["prod"],
            'Arguments to "if" must be of the form: [condition_name, value_if_true, value_if_false]',
        ),
        (
            if_condition,
            ["prod", 1, 2, 3],
            'Arguments to "if" must be of the form: [condition_name, value_if_true, value_if_false]',
        ),
        (
            if_condition_both,
            ["prod", 1],
            'Arguments to "if" must be of the form: [condition_name, value_if_true, value_if_false]',
        ),
    ],
)
def test_validate_refuses_bad_shapes(module, args, reason):
    with pytest.raises(TemplateError) as caught:
        module.validate(args, ("outputs", "o", "value"))
    assert (caught.value.reason, caught.value.path) == (reason, ("outputs", "o", "value"))


TEMPLATE = """\
    parameters:
      env: {type: string, default: dev}
    conditions:
      prod: {equals: [{get_param: env}, prod]}
    resources:
      db: {type: X, condition: prod}
      web:
        type: X
        properties:
          size: {if: [prod, large, small]}
          inline: {if: [{equals: [{get_param: env}, dev]}, "dev!", other]}
          literal: {if: [true, yes, no]}
          db_address: {if: [prod, {get_attr: [db, address]}, localhost]}
    """


@pytest.mark.parametrize(
    "env, expected",
    [
        ("prod", {"size": "large", "inline": "other", "literal": True, "db_address": "10.0.0.9"}),
        ("dev", {"size": "small", "inline": "dev!", "literal": True, "db_address": "localhost"}),
    ],
)
def test_in_a_template(hot, fake_stack, env, expected):
    template = hot.parse("2016-10-14", TEMPLATE).with_conditions({"env": env}, {})
    stack = fake_stack(params={"env": env}, attributes={"db": {"address": "10.0.0.9"}})
    assert template.resolve(template.resources["web"].properties, stack) == expected


def test_dependencies_follow_the_chosen_value(hot):
    template = hot.parse("2016-10-14", TEMPLATE)
    assert template.dependencies()["web"] == {"db"}
    assert template.with_conditions({"env": "prod"}, {}).dependencies()["web"] == {"db"}
    assert template.with_conditions({"env": "dev"}, {}).dependencies()["web"] == set()


def test_a_left_out_value_drops_its_key_or_item(hot, fake_stack):
    template = hot.parse(
        "2021-04-16",
        """\
        parameters:
          env: {type: string}
        conditions:
          prod: {equals: [{get_param: env}, prod]}
        resources:
          web:
            type: X
            properties:
              replicas: {if: [prod, 3]}
              names: [a, {if: [prod, b]}, c]
        outputs:
          o: {value: {if: [prod, here]}}
        """,
    ).with_conditions({"env": "dev"}, {})
    stack = fake_stack(params={"env": "dev"})
    assert template.resolve(template.resources["web"].properties, stack) == {"names": ["a", "c"]}
    assert template.resolve(template.outputs["o"].value, stack) is None


def test_needs_2016_10_14_and_two_arguments_need_2021_04_16(hot):
    body = """\
        outputs:
          o:
            value: {if: [true, a%s]}
        """
    # Before 2016-10-14 `if` is data, to Heat and Hearth alike.
    hot.parse("2016-04-08", body % ", b")
    assert hot.error("2018-08-31", body % "") == (
        'web.yaml:4: outputs.o.value.if: Arguments to "if" must be of the form: [condition_name, '
        "value_if_true, value_if_false]"
    )
    assert hot.parse("2021-04-16", body % "").resolve({"if": [True, "a"]}, None) == "a"


@pytest.mark.parametrize(
    "condition, message",
    [
        ("staging", 'web.yaml:4: outputs.o.value.if: Invalid condition "staging"'),
        (
            "{get_attr: [web, ip]}",
            'web.yaml:4: outputs.o.value.if.0.get_attr: The function "get_attr" is invalid in this context',
        ),
        (
            "{equals: [a]}",
            'web.yaml:4: outputs.o.value.if.0.equals: Arguments to "equals" must be of the form: [value_1, value_2]',
        ),
    ],
)
def test_condition_errors_name_file_line_and_path(hot, condition, message):
    assert (
        hot.error(
            "2016-10-14",
            f"""\
        outputs:
          o:
            value: {{if: [{condition}, a, b]}}
        resources:
          web: {{type: X}}
        """,
        )
        == message
    )


def test_a_condition_resolving_to_something_else_is_an_error(hot, fake_stack):
    template = hot.parse(
        "2016-10-14",
        """\
        parameters:
          which: {type: string}
        outputs:
          o:
            value: {if: [{get_param: which}, a, b]}
        """,
    )
    with pytest.raises(TemplateError) as caught:
        template.resolve(template.outputs["o"].value, fake_stack(params={"which": "nope"}), ("outputs", "o", "value"))
    assert str(caught.value) == ('web.yaml:6: outputs.o.value: Invalid condition "nope"')
