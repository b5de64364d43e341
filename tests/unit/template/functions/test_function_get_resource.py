"""Tests for the get_resource function."""

from __future__ import annotations

import pytest

from engine.template.functions import get_resource


def test_resolve_asks_for_the_reference_id(fake_stack):
    stack = fake_stack(resources={"port": "5f1c-port-id"})
    assert get_resource.resolve("port", lambda snippet, *segments: snippet, stack) == "5f1c-port-id"
    assert stack.asked == [("get_resource", "port")]


@pytest.mark.parametrize("args", ["", ["port"], {"get_param": "x"}, None])
def test_validate_leaves_the_name_to_resolve(args):
    # Heat checks these arguments only when it resolves them, and so does Hearth.
    get_resource.validate(args, ("resources", "web", "properties", "port"))


def test_reference_names_the_resource():
    assert get_resource.reference("port") == ("resource", "port")
