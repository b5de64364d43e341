"""Tests for filter (2017-02-24 on): removing values from a list, empty and null lists, and argument errors."""

from __future__ import annotations

import pytest

from engine.errors import TemplateError
from engine.template.functions import filter_values


def literal(snippet, *segments):
    return snippet


@pytest.mark.parametrize(
    "args, value",
    [
        ([[None, "b"], ["a", None, "b", "c", "b"]], ["a", "c"]),
        ([[{"k": 1}], [{"k": 1}, {"k": 2}]], [{"k": 2}]),
        ([[], ["a"]], ["a"]),
        ([None, ["a"]], ["a"]),
        ([["a"], []], []),
        ([["a"], None], None),
    ],
)
def test_removes_the_values(args, value):
    assert filter_values.resolve(args, literal, None) == value


@pytest.mark.parametrize(
    "args, reason",
    [
        ([["a"], "abc"], '"filter" only works with lists'),
        (["a", ["a"]], '"filter" filters a list of values'),
    ],
)
def test_resolve_errors(args, reason):
    with pytest.raises(TemplateError) as caught:
        filter_values.resolve(args, literal, None)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    "args, reason",
    [
        ({"a": 1, "b": 2}, 'Argument to "filter" must be a list'),
        ([["a"]], '"filter" expected 2 arguments of the form [values, sequence] but got 1 arguments instead'),
        (
            [["a"], ["b"], ["c"]],
            '"filter" expected 2 arguments of the form [values, sequence] but got 3 arguments instead',
        ),
    ],
)
def test_validate_refuses_bad_shapes(args, reason):
    with pytest.raises(TemplateError) as caught:
        filter_values.validate(args, ("outputs", "o", "value"))
    assert (caught.value.reason, caught.value.path) == (reason, ("outputs", "o", "value"))


def test_needs_2017_02_24(hot, fake_stack):
    body = """\
        parameters:
          hosts: {type: comma_delimited_list}
        outputs:
          o: {value: {filter: [[""], {get_param: hosts}]}}
        """
    # A function of a later version is data before it, to Heat and Hearth alike.
    hot.parse("2016-10-14", body)
    template = hot.parse("ocata", body)
    assert template.resolve(template.outputs["o"].value, fake_stack(params={"hosts": ["a", "", "b"]})) == ["a", "b"]


def test_argument_errors_name_file_line_and_path(hot):
    assert (
        hot.error(
            "2017-02-24",
            """\
        outputs:
          o:
            value: {filter: [[a]]}
        """,
        )
        == 'web.yaml:4: outputs.o.value.filter: "filter" expected 2 arguments of the form [values, sequence] but got 1 arguments instead'
    )
