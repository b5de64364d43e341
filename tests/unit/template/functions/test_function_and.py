"""Tests for and (in conditions, 2016-10-14 on): every one of two or more conditions."""

from __future__ import annotations

import pytest

from engine.errors import TemplateError
from engine.template.functions import and_conditions


def literal(snippet, *segments):
    return snippet


@pytest.mark.parametrize(
    "args, value",
    [(["yes", True], True), (["yes", "no"], False), ([True, True, True], True), ([True, True, "no"], False)],
)
def test_all_must_hold(fake_stack, args, value):
    assert and_conditions.resolve(args, literal, fake_stack(conditions={"yes": True, "no": False})) is value


def test_every_item_is_resolved_even_after_a_false_one(fake_stack):
    stack = fake_stack(conditions={"no": False})
    with pytest.raises(TemplateError):
        and_conditions.resolve(["no", "unknown"], literal, stack)


def test_every_item_is_a_condition():
    assert and_conditions.conditions_in(["a", "b", "c"]) == [(0,), (1,), (2,)]


@pytest.mark.parametrize(
    "args, reason",
    [
        ("a", 'Arguments to "and" must be a list of conditions'),
        (["a"], 'The minimum number of condition arguments to "and" is 2.'),
        ({"a": 1}, 'Arguments to "and" must be a list of conditions'),
        (None, 'Arguments to "and" must be a list of conditions'),
    ],
)
def test_validate_needs_two_conditions(args, reason):
    with pytest.raises(TemplateError) as caught:
        and_conditions.validate(args, ("conditions", "c"))
    assert (caught.value.reason, caught.value.path) == (reason, ("conditions", "c"))


def test_in_conditions_and_on_resources(hot):
    template = hot.parse(
        "2016-10-14",
        """\
        parameters:
          env: {type: string}
          ha: {type: boolean}
        conditions:
          prod: {equals: [{get_param: env}, prod]}
          prod_ha: {and: [prod, {get_param: ha}, {not: {equals: [{get_param: env}, dev]}}]}
        resources:
          standby:
            type: X
            condition: {and: [prod_ha, true]}
        """,
    )
    derived = template.with_conditions({"env": "prod", "ha": False}, {})
    assert derived.condition_values == {"prod": True, "prod_ha": False}
    assert derived.resources == {} and derived.disabled_resources == {"standby"}
    assert list(template.with_conditions({"env": "prod", "ha": True}, {}).resources) == ["standby"]


def test_conditions_need_2016_10_14(hot):
    assert hot.error("2016-04-08", "conditions:\n  c: {and: [true, true]}\n") == (
        "web.yaml:2: conditions: The template section is invalid: conditions"
    )


def test_argument_errors_name_file_line_and_path(hot):
    assert hot.error("2016-10-14", "conditions:\n  c: {and: [true]}\n") == (
        'web.yaml:3: conditions.c.and: The minimum number of condition arguments to "and" is 2.'
    )
    assert hot.error("2016-10-14", "conditions:\n  c:\n    and:\n      - true\n      - nope\n") == (
        'web.yaml:4: conditions.c.and: Invalid condition "nope"'
    )
