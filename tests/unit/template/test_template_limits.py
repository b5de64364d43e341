"""Bounded evaluation: each intrinsic function is refused before it builds more than the limits
allow, with RequestLimitExceeded naming the call's path and the setting; below the limits the
results are those of an unbounded evaluation."""

from __future__ import annotations

import time

import pytest

from engine.errors import LimitExceeded
from engine.template import parse_template
from engine.template.context import ParameterContext
from engine.template.limits import Budget, Limits, default_limits

SMALL = Limits(max_resolved_value_size=10_000, max_function_work=1_000)
HUNDRED = list(range(100))


def resolve(value, *, limits=SMALL, params=None, version="2021-04-16", parameters=None):
    template = parse_template(
        {
            "heat_template_version": version,
            "parameters": parameters or {},
            "resources": {"v": {"type": "OS::Heat::Value", "properties": {"value": value}}},
        }
    )
    context = ParameterContext(params or {}, limits=limits)
    return template.resolve(template.resources["v"].properties, context, ("resources", "v", "properties"))["value"]


def refused(value, **kw) -> LimitExceeded:
    started = time.monotonic()
    with pytest.raises(LimitExceeded) as caught:
        resolve(value, **kw)
    assert time.monotonic() - started < 2, "refused, but only after doing the work"
    error = caught.value
    assert error.kind == "RequestLimitExceeded"
    assert "Request limit exceeded: " in str(error)
    return error


def test_repeat_over_four_hundred_item_lists_is_refused_from_the_lengths():
    value = {
        "repeat": {
            "template": "%a%-%b%-%c%-%d%",
            "for_each": {"%a%": HUNDRED, "%b%": HUNDRED, "%c%": HUNDRED, "%d%": HUNDRED},
        }
    }
    error = refused(value, limits=default_limits())
    assert error.path == ("resources", "v", "properties", "value", "repeat")
    assert "100000000" in str(error) and "max_function_work" in str(error)
    assert str(error).startswith("template: resources.v.properties.value.repeat: Request limit exceeded: repeat:")


def test_repeat_within_the_limits_is_unchanged():
    value = {"repeat": {"template": {"k": "<%a%%b%>"}, "for_each": {"%a%": [1, 2], "%b%": ["x", "y"]}}}
    assert resolve(value) == [{"k": "<1x>"}, {"k": "<1y>"}, {"k": "<2x>"}, {"k": "<2y>"}]
    paired = {"repeat": {"template": "%a%%b%", "for_each": {"%a%": [1, 2], "%b%": [3, 4]}, "permutations": False}}
    assert resolve(paired) == ["13", "24"]


def test_repeat_of_a_large_template_is_refused_by_its_copies_size():
    value = {"repeat": {"template": "x" * 500, "for_each": {"%a%": list(range(100))}}}
    error = refused(value)
    assert "max_resolved_value_size" in str(error)


def test_str_replace_growth_is_refused_before_the_text_is_built():
    inner = {"str_replace": {"template": "B" * 200, "params": {"B": "x" * 100}}}
    error = refused({"str_replace": {"template": "A" * 200, "params": {"A": inner}}})
    assert error.path[-1] == "str_replace"
    assert "str_replace: the text would be" in str(error) and "max_resolved_value_size" in str(error)


@pytest.mark.parametrize("function", ["str_replace", "str_replace_strict", "str_replace_vstrict"])
def test_every_str_replace_is_bounded(function):
    error = refused({function: {"template": "$x" * 2000, "params": {"$x": "y" * 10}}})
    assert error.path[-1] == function


def test_fn_replace_and_fn_join_are_bounded():
    assert "Fn::Replace" in str(refused({"Fn::Replace": [{"$x": "y" * 100}, "$x" * 200]}, version="2013-05-23"))
    # A long delimiter between many short items: the text outgrows the arguments.
    error = refused({"Fn::Join": ["-" * 1000, ["z"] * 20]}, version="2013-05-23")
    assert "Fn::Join: the joined text" in str(error)


def test_list_join_with_a_long_delimiter_is_refused_before_joining():
    error = refused({"list_join": ["-" * 1000, ["w"] * 10, ["v"] * 10]})
    assert "list_join: the joined text would be" in str(error)


def test_list_join_renders_maps_only_after_measuring_them():
    shared = {"k": "v" * 1000}
    error = refused(
        {"list_join": [",", [{"get_param": "p"}] * 20]}, params={"p": shared}, parameters={"p": {"type": "json"}}
    )
    assert "max_resolved_value_size" in str(error)


def test_list_concat_counts_its_items_before_copying_them():
    error = refused(
        {"list_concat": [{"get_param": "p"}] * 30}, params={"p": list(range(50))}, parameters={"p": {"type": "json"}}
    )
    assert "list_concat" in str(error) and "max_function_work" in str(error)


def test_list_concat_unique_keeps_the_first_of_equal_items():
    value = {"list_concat_unique": [[1, "a", {"k": 1}, [2]], [True, "a", {"k": 1}, [2], 1.0, "b"]]}
    assert resolve(value) == [1, "a", {"k": 1}, [2], "b"]


def test_filter_keeps_its_answers_and_is_bounded():
    assert resolve({"filter": [[1, {"a": 1}, "x"], [1, 2, {"a": 1}, {"a": 2}, "x", "y"]]}) == [2, {"a": 2}, "y"]
    error = refused(
        {"filter": [[0], {"get_param": "p"}]}, params={"p": list(range(2000))}, parameters={"p": {"type": "json"}}
    )
    assert "filter" in str(error)


def test_str_split_counts_its_items_before_splitting():
    error = refused({"str_split": [",", "," * 5000]})
    assert "str_split: the items to split into (5001)" in str(error)
    assert "Fn::Split" in str(refused({"Fn::Split": [",", "," * 5000]}, version="2013-05-23"))


def test_map_merge_and_map_replace_count_their_entries():
    big = {str(i): i for i in range(600)}
    error = refused(
        {"map_merge": [{"get_param": "p"}, {"get_param": "p"}]},
        params={"p": big},
        parameters={"p": {"type": "json"}},
        limits=Limits(10**7, 1_000),
    )
    assert "map_merge" in str(error)
    assert "map_replace" in str(
        refused(
            {"map_replace": [{"get_param": "p"}, {"keys": {}}]},
            params={"p": {str(i): i for i in range(1200)}},
            parameters={"p": {"type": "json"}},
            limits=Limits(10**7, 1_000),
        )
    )


def test_a_value_sharing_one_parameter_many_times_is_refused_by_its_size():
    error = refused([{"get_param": "p"}] * 200, params={"p": "y" * 100}, parameters={"p": {"type": "string"}})
    assert error.path == ("resources", "v", "properties", "value")
    assert "the value would be" in str(error)


def test_a_limit_of_minus_one_is_no_limit():
    value = {"repeat": {"template": "%a%%b%", "for_each": {"%a%": HUNDRED, "%b%": HUNDRED}}}
    assert len(resolve(value, limits=Limits(-1, -1))) == 10_000


def test_budget_measures_shared_values_without_building_them():
    part = ["x" * 100] * 100
    shared = [part] * 100
    budget = Budget(Limits(max_resolved_value_size=10**9, max_function_work=10**6))
    # Each text with its quotes, each list with its brackets and commas.
    assert budget.size_of(shared, "f") == 100 * (100 * 102 + 101) + 101
    with pytest.raises(LimitExceeded, match="max_resolved_value_size"):
        Budget(Limits(max_resolved_value_size=10**5, max_function_work=10**6)).size_of(shared, "f")
    # A huge integer is measured without being turned into text.
    assert Budget().size_of(10**5000, "f") > 5000


def test_the_work_budget_is_for_the_whole_evaluation():
    budget = Budget(Limits(max_resolved_value_size=-1, max_function_work=10))
    budget.spend(6, "a", "things")
    with pytest.raises(LimitExceeded, match="max_function_work"):
        budget.spend(6, "b", "things")


@pytest.mark.parametrize(
    "expression", ["sequence(0).len()", "range(0, 100000000).len()", "generate(0, true, $ + 1).len()"]
)
def test_yaql_that_would_never_end_is_stopped_by_the_work_budget(expression):
    error = refused({"yaql": {"expression": expression}})
    assert error.path[-1] == "yaql" and "yaql: the steps its expression runs" in str(error)
    assert "max_function_work (1000 items)" in str(error)


def test_yaql_within_the_budget_is_unchanged():
    # yaql runs a few thousand lines of Python for a small expression: each is a step of work.
    assert (
        resolve(
            {"yaql": {"expression": "$.data.l.select($ * 2).sum()", "data": {"l": [1, 2, 3]}}}, limits=default_limits()
        )
        == 12
    )
    assert resolve({"yaql": {"expression": "range(0, 100).len()"}}, limits=default_limits()) == 100
