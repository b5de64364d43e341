"""Tests for not (in conditions, 2016-10-14 on): negating a named, boolean or inline condition."""

from __future__ import annotations

import pytest

from engine.errors import TemplateError
from engine.template.functions import not_condition


def literal(snippet, *segments):
    return snippet


@pytest.mark.parametrize("args, value", [("prod", False), ("dev", True), (True, False), (False, True)])
def test_negates(fake_stack, args, value):
    assert not_condition.resolve(args, literal, fake_stack(conditions={"prod": True, "dev": False})) is value


def test_its_argument_is_a_condition():
    assert not_condition.conditions_in("prod") == [()]


def test_validate_refuses_null():
    with pytest.raises(TemplateError) as caught:
        not_condition.validate(None, ("conditions", "c"))
    assert (caught.value.reason, caught.value.path) == ('Argument to "not" must be a condition', ("conditions", "c"))


def test_in_conditions(hot):
    template = hot.parse(
        "2016-10-14",
        """\
        parameters:
          env: {type: string}
        conditions:
          prod: {equals: [{get_param: env}, prod]}
          dev: {not: prod}
          not_prod_inline: {not: {equals: [{get_param: env}, prod]}}
          never: {not: true}
        """,
    )
    assert template.with_conditions({"env": "prod"}, {}).condition_values == {
        "prod": True,
        "dev": False,
        "not_prod_inline": False,
        "never": False,
    }


def test_conditions_need_2016_10_14(hot):
    assert hot.error("2016-04-08", "conditions:\n  c: {not: true}\n") == (
        "web.yaml:2: conditions: The template section is invalid: conditions"
    )


@pytest.mark.parametrize(
    "argument, message",
    [
        ("missing", 'web.yaml:3: conditions.c.not: Invalid condition "missing"'),
        ("null", 'web.yaml:3: conditions.c.not: Argument to "not" must be a condition'),
        (
            "{list_join: [',', [a]]}",
            'web.yaml:3: conditions.c.not.list_join: The function "list_join" is invalid in this context',
        ),
    ],
)
def test_argument_errors_name_file_line_and_path(hot, argument, message):
    assert hot.error("2016-10-14", f"conditions:\n  c: {{not: {argument}}}\n") == message
