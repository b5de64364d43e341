"""Tests for get_attr (2015-10-15 on) and get_attr_named (before): attributes, paths, nulls and shapes."""

from __future__ import annotations

import pytest

from engine.errors import TemplateError
from engine.template.functions import get_attr, get_attr_named

ATTRIBUTES = {"web": {"first_address": "10.0.0.5", "networks": {"private": ["10.0.0.5", "fd00::5"]}, "pending": None}}


def literal(snippet, *segments):
    return snippet


@pytest.mark.parametrize(
    "args, value",
    [
        (["web", "first_address"], "10.0.0.5"),
        (["web", "networks", "private", 1], "fd00::5"),
        (["web", "networks", "private", "0"], "10.0.0.5"),
        (["web", "networks"], {"private": ["10.0.0.5", "fd00::5"]}),
    ],
)
def test_resolve_walks_into_attributes(fake_stack, args, value):
    assert get_attr.resolve(args, literal, fake_stack(attributes=ATTRIBUTES)) == value


@pytest.mark.parametrize(
    "args",
    [
        ["web", "pending", "deeper", 0],
        ["web", "missing"],
        ["web", "networks", "public"],
        ["web", "networks", "private", 9],
        ["web", "first_address", "x"],
    ],
)
def test_unavailable_attributes_and_paths_that_lead_nowhere_are_null(fake_stack, args):
    assert get_attr.resolve(args, literal, fake_stack(attributes=ATTRIBUTES)) is None


def test_resource_alone_gives_all_attributes(fake_stack):
    stack = fake_stack(attributes=ATTRIBUTES)
    assert get_attr.resolve(["web"], literal, stack) == ATTRIBUTES["web"]
    assert stack.asked == [("get_attr", "web", None)]


def test_attribute_name_may_come_from_a_call(fake_stack):
    def evaluate(snippet, *segments):
        return "first_address" if isinstance(snippet, dict) else snippet

    assert get_attr.resolve(["web", {"get_param": "attr"}], evaluate, fake_stack(attributes=ATTRIBUTES)) == "10.0.0.5"


def test_attribute_name_must_resolve_to_a_string(fake_stack):
    with pytest.raises(TemplateError) as caught:
        get_attr.resolve(["web", {"get_param": "attr"}], lambda snippet, *segments: 3, fake_stack())
    assert caught.value.reason == "get_attr: the attribute name must be a string, not a number"


@pytest.mark.parametrize(
    "args, reason",
    [
        ("web", 'Argument to "get_attr" must be a list'),
        (
            [],
            'Arguments to "get_attr" can be of the next forms: [resource_name] or [resource_name, attribute, (path), ...]',
        ),
        ([{"get_param": "name"}, "ip"], "get_attr: the resource name must be a string"),
        (["web", "networks", {"a": 1, "b": 2}], "get_attr: argument 2 must be a key, an index or a function"),
    ],
)
def test_validate_refuses_bad_shapes(args, reason):
    with pytest.raises(TemplateError) as caught:
        get_attr.validate(args, ("outputs", "ip", "value"))
    assert (caught.value.reason, caught.value.path) == (reason, ("outputs", "ip", "value"))


def test_before_2015_10_15_the_attribute_is_required():
    get_attr_named.validate(["web", "first_address"], ())
    with pytest.raises(TemplateError) as caught:
        get_attr_named.validate(["web"], ())
    assert caught.value.reason == 'Arguments to "get_attr" must be of the form [resource_name, attribute, (path), ...]'


def test_reference_names_the_resource():
    assert get_attr.reference(["web", "ip"]) == ("resource", "web")
    assert get_attr_named.reference(["db", "ip"]) == ("resource", "db")
