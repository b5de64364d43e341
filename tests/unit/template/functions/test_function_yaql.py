"""Tests for yaql (2016-10-14 on, in conditions from 2017-09-01): expressions on data, Heat's limits, and errors."""

from __future__ import annotations

import pytest

from engine.errors import TemplateError
from engine.template.functions import yaql_expression


def literal(snippet, *segments):
    return snippet


@pytest.mark.parametrize(
    "expression, data, value",
    [
        ("$.data.numbers.sum()", {"numbers": [1, 2, 3]}, 6),
        ("$.data.numbers.select($ * 2)", {"numbers": [1, 2]}, [2, 4]),
        (
            "$.data.servers.where($.role = db).select($.name)",
            {"servers": [{"name": "a", "role": "db"}, {"name": "b", "role": "web"}]},
            ["a"],
        ),
        ("$.data.keys.toSet()", {"keys": ["b", "a", "b"]}, ["a", "b"]),
        ("$.data", {"m": {"k": [1]}}, {"m": {"k": [1]}}),
        ("1 + 1", None, 2),
    ],
)
def test_evaluates_on_data(expression, data, value):
    args = {"expression": expression} if data is None else {"expression": expression, "data": data}
    assert yaql_expression.resolve(args, literal, None) == value


@pytest.mark.parametrize(
    "expression, reason",
    [
        ("range(0, 1000).sum()", "yaql: Collection length exceeds 200 elements"),
        (
            "range(0, 150).select(str($)).join('xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx')",
            "yaql: Expression consumed too much memory",
        ),
        ("1 / 0", "yaql: evaluating the expression failed: ZeroDivisionError integer division or modulo by zero"),
    ],
)
def test_heats_limits_and_failures(expression, reason):
    with pytest.raises(TemplateError) as caught:
        yaql_expression.resolve({"expression": expression}, literal, None)
    assert caught.value.reason == reason


def test_an_expression_from_a_call_is_checked_when_resolved():
    def evaluate(snippet, *segments):
        return "$.data.(" if segments == ("expression",) else snippet

    with pytest.raises(TemplateError) as caught:
        yaql_expression.resolve({"expression": {"get_param": "e"}}, evaluate, None)
    assert caught.value.reason.startswith("Bad expression ")
    with pytest.raises(TemplateError) as caught:
        yaql_expression.resolve({"expression": {"get_param": "e"}}, lambda snippet, *segments: 5, None)
    assert caught.value.reason == 'The "expression" argument to yaql must contain a string.'


@pytest.mark.parametrize(
    "args, reason",
    [
        ("$.data", 'Arguments to "yaql" must be a map.'),
        ({"data": {}}, '\'"yaql" syntax should be yaql:'),
        ({"expression": "$", "data": {}, "other": 1}, '\'"yaql" syntax should be yaql:'),
        ({"expression": ["$"]}, 'The "expression" argument to yaql must contain a string.'),
        ({"expression": "$.data.("}, "Bad expression "),
    ],
)
def test_validate_refuses_bad_shapes_and_syntax(args, reason):
    with pytest.raises(TemplateError) as caught:
        yaql_expression.validate(args, ("outputs", "o", "value"))
    assert caught.value.reason.startswith(reason) and caught.value.path == ("outputs", "o", "value")


def test_needs_2016_10_14(hot, fake_stack):
    body = """\
        parameters:
          sizes: {type: json}
        outputs:
          o:
            value:
              yaql:
                expression: $.data.sizes.max()
                data: {sizes: {get_param: sizes}}
        """
    # A function of a later version is data before it, to Heat and Hearth alike.
    hot.parse("2016-04-08", body)
    template = hot.parse("2016-10-14", body)
    assert template.resolve(template.outputs["o"].value, fake_stack(params={"sizes": [3, 9, 4]})) == 9


def test_in_conditions_from_2017_09_01(hot):
    body = """\
        parameters:
          count: {type: number}
        conditions:
          many: {yaql: {expression: "$.data.n > 2", data: {n: {get_param: count}}}}
        """
    assert hot.error("2017-02-24", body) == (
        'web.yaml:5: conditions.many.yaql: The function "yaql" is invalid in this context'
    )
    template = hot.parse("2017-09-01", body)
    assert template.with_conditions({"count": 3}, {}).condition_values == {"many": True}


def test_argument_errors_name_file_line_and_path(hot):
    assert hot.error(
        "2016-10-14",
        """\
        outputs:
          o:
            value: {yaql: {expression: "$.data.(", data: {}}}
        """,
    ).startswith("web.yaml:4: outputs.o.value.yaql: Bad expression Parse error: unexpected end of statement.")
