"""A stand-in for the engine's ResolveContext, built from literals, for template and function tests."""
from __future__ import annotations

from typing import Any

import pytest


class FakeStack:
    """Answers get_param, get_resource and get_attr from dicts, and records what was asked."""

    def __init__(self, params=None, resources=None, attributes=None, files=None):
        self.params = params or {}
        self.resources = resources or {}
        self.attributes = attributes or {}
        self.files = files or {}
        self.asked: list[tuple] = []

    def get_param(self, name: str) -> Any:
        self.asked.append(("get_param", name))
        return self.params[name]

    def get_resource(self, name: str) -> Any:
        self.asked.append(("get_resource", name))
        return self.resources[name]

    def get_attr(self, resource: str, attribute: str | None) -> Any:
        self.asked.append(("get_attr", resource, attribute))
        values = self.attributes.get(resource, {})
        return dict(values) if attribute is None else values.get(attribute)


@pytest.fixture
def fake_stack():
    return FakeStack
