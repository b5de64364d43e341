"""Stand-ins for the engine's ResolveContext, built from literals, and a parser of short HOT texts, for template and function tests."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from engine.errors import TemplateError
from engine.template import parse_template


class FakeStack:
    """Answers get_param, get_resource, get_attr and resource_facade from dicts, and records what was asked.

    With `conditions`, it also answers `condition(value)` as a template's context does: a
    boolean is itself, a string names one of `conditions`.
    """

    def __init__(self, params=None, resources=None, attributes=None, files=None, facade=None, conditions=None):
        self.params = params or {}
        self.resources = resources or {}
        self.attributes = attributes or {}
        self.files = files or {}
        self.facade = facade or {}
        self.conditions = conditions or {}
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

    def resource_facade(self, kind: str) -> Any:
        self.asked.append(("resource_facade", kind))
        return self.facade[kind]

    def condition(self, value: Any) -> bool:
        self.asked.append(("condition", value))
        if isinstance(value, bool):
            return value
        if value not in self.conditions:
            raise TemplateError(f"'{value}' is not a condition")
        return self.conditions[value]


@pytest.fixture
def fake_stack():
    return FakeStack


class Texts:
    """Short HOT texts as web.yaml: `body` follows the version line, so its first line is line 2."""

    def parse(self, version: str, body: str = "", **kwargs):
        text = f"heat_template_version: {version}\n" + textwrap.dedent(body)
        return parse_template(text, filename="web.yaml", **kwargs)

    def error(self, version: str, body: str = "", **kwargs) -> str:
        with pytest.raises(TemplateError) as caught:
            self.parse(version, body, **kwargs)
        return str(caught.value)


@pytest.fixture
def hot():
    return Texts()
