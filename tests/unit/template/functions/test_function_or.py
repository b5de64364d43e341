"""Tests for or (in conditions, 2016-10-14 on): at least one of two or more conditions."""

from __future__ import annotations

import pytest

from engine.errors import TemplateError
from engine.template.functions import or_conditions


def literal(snippet, *segments):
    return snippet


@pytest.mark.parametrize("args, value", [(["yes", False], True), (["no", False], False), ([False, False, "yes"], True)])
def test_one_must_hold(fake_stack, args, value):
    assert or_conditions.resolve(args, literal, fake_stack(conditions={"yes": True, "no": False})) is value


def test_every_item_is_a_condition():
    assert or_conditions.conditions_in([True, "a"]) == [(0,), (1,)]


@pytest.mark.parametrize(
    "args, reason",
    [
        ("a", 'Arguments to "or" must be a list of conditions'),
        (["a"], 'The minimum number of condition arguments to "or" is 2.'),
    ],
)
def test_validate_needs_two_conditions(args, reason):
    with pytest.raises(TemplateError) as caught:
        or_conditions.validate(args, ("conditions", "c"))
    assert (caught.value.reason, caught.value.path) == (reason, ("conditions", "c"))


def test_in_conditions_and_outputs(hot):
    template = hot.parse(
        "2016-10-14",
        """\
        parameters:
          env: {type: string}
        conditions:
          test: {equals: [{get_param: env}, test]}
          dev: {equals: [{get_param: env}, dev]}
          not_prod: {or: [test, dev]}
        outputs:
          debug:
            value: on
            condition: not_prod
          debug_inline:
            value: on
            condition: {or: [test, {equals: [{get_param: env}, dev]}]}
        """,
    )
    assert list(template.with_conditions({"env": "dev"}, {}).outputs) == ["debug", "debug_inline"]
    assert list(template.with_conditions({"env": "prod"}, {}).outputs) == []


def test_conditions_need_2016_10_14(hot):
    assert hot.error("2016-04-08", "conditions:\n  c: {or: [true, false]}\n") == (
        "web.yaml:2: conditions: The template section is invalid: conditions"
    )


def test_argument_errors_name_file_line_and_path(hot):
    assert hot.error("2016-10-14", "conditions:\n  c:\n    or: nope\n") == (
        'web.yaml:4: conditions.c.or: Arguments to "or" must be a list of conditions'
    )
