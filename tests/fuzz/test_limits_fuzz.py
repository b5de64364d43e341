"""Hypothesis drives the intrinsic functions with small limits on: nested calls of the functions
that can outgrow their arguments (repeat, list_concat, str_replace, list_join, str_split,
map_merge, ...) over values shared many times. Every evaluation must return a value or raise the
engine's own TemplateError (LimitExceeded among them) — never another exception — and return
quickly: the limits stop the work before it is done, not after.

Bounded: 200 examples, no deadline per example but a bound on each evaluation's time; the
module runs in well under 30 s. Nothing is mocked: the parser and functions are the real ones.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from engine.errors import TemplateError
from engine.template import parse_template
from engine.template.context import ParameterContext
from engine.template.limits import Limits

pytestmark = pytest.mark.fuzz

LIMITS = Limits(max_resolved_value_size=20_000, max_function_work=5_000)
FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PARAMETERS = {
    "text": {"type": "string", "default": "ab" * 500},
    "items": {"type": "json", "default": list(range(200))},
    "map": {"type": "json", "default": {str(i): "v" * 20 for i in range(100)}},
    "sep": {"type": "string", "default": ","},
}

texts = st.one_of(
    st.sampled_from(["%a%", "$x", ",", "x", "%a%%b%", ""]),
    st.text(max_size=6),
    st.builds(lambda n: "$x" * n, st.integers(0, 300)),
)
references = st.sampled_from(
    [{"get_param": "text"}, {"get_param": "items"}, {"get_param": "map"}, {"get_param": "sep"}]
)
scalars = st.one_of(texts, st.integers(-5, 300), st.booleans(), st.none(), references)


def amplifiers(children):
    lists = st.one_of(
        st.lists(children, max_size=6), references, st.builds(lambda item, n: [item] * n, children, st.integers(0, 60))
    )
    maps = st.one_of(st.dictionaries(texts, children, max_size=4), references)
    return st.one_of(
        st.builds(
            lambda body, a, b, perm: {
                "repeat": {"template": body, "for_each": {"%a%": a, "%b%": b}, "permutations": perm}
            },
            children,
            lists,
            lists,
            st.booleans(),
        ),
        st.builds(lambda items: {"list_concat": items}, st.lists(lists, max_size=6)),
        st.builds(lambda items: {"list_concat_unique": items}, st.lists(lists, max_size=6)),
        st.builds(
            lambda template, value, fn: {fn: {"template": template, "params": {"$x": value}}},
            st.one_of(texts, children),
            children,
            st.sampled_from(["str_replace", "str_replace_strict", "str_replace_vstrict"]),
        ),
        st.builds(lambda sep, items: {"list_join": [sep, items, items]}, st.one_of(texts, children), lists),
        st.builds(lambda sep, text: {"str_split": [sep, text]}, texts, st.one_of(texts, children)),
        st.builds(lambda items: {"map_merge": items}, st.lists(maps, max_size=5)),
        st.builds(lambda source, keys: {"map_replace": [source, {"keys": keys}]}, maps, maps),
        st.builds(lambda values, items: {"filter": [values, items]}, lists, lists),
        st.builds(lambda value, items: {"contains": [value, items]}, children, lists),
        st.builds(lambda items: {"yaql": {"expression": "$.data.i.len()", "data": {"i": items}}}, lists),
        st.builds(lambda sep, items: {"Fn::Join": [sep, items]}, texts, lists),
    )


snippets = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(texts, children, max_size=4), amplifiers(children)
    ),
    max_leaves=20,
)


def evaluate(snippet, version="2021-04-16"):
    template = parse_template(
        {
            "heat_template_version": version,
            "parameters": PARAMETERS,
            "resources": {"v": {"type": "OS::Heat::Value", "properties": {"value": snippet}}},
        }
    )
    context = ParameterContext(template.validate_parameters({}), limits=LIMITS)
    started = time.monotonic()
    try:
        template.resolve(template.resources["v"].properties, context, ("resources", "v", "properties"))
    except TemplateError as error:  # refusing is as right as resolving, so no pytest.raises
        assert error.file is not None  # noqa: PT017 - located, as every template error is
    elapsed = time.monotonic() - started
    assert elapsed < 5, f"evaluation took {elapsed:.1f} s"


@FUZZ
@given(snippets)
def test_functions_under_limits_return_or_refuse_quickly(snippet):
    try:
        evaluate(snippet)
    except TemplateError as error:
        # Parsing may refuse a call's shape before anything runs: also the engine's own error.
        assert error.file is not None  # noqa: PT017


@FUZZ
@given(snippets)
def test_cfn_join_and_split_under_limits(snippet):
    try:
        evaluate({"Fn::Join": [",", [{"Fn::Split": [",", {"Fn::Join": ["-", [snippet]]}]}] * 30]}, version="2013-05-23")
    except TemplateError as error:
        assert error.file is not None  # noqa: PT017 - as above
