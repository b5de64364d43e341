"""Tests for resource_facade (all versions): the parent resource's metadata and policies, asked of the context."""

from __future__ import annotations

import pytest

from engine.errors import TemplateError
from engine.template.functions import resource_facade


def literal(snippet, *segments):
    return snippet


@pytest.mark.parametrize(
    "kind, value", [("metadata", {"role": "db"}), ("deletion_policy", "Retain"), ("update_policy", {"batch": 2})]
)
def test_asks_the_context(fake_stack, kind, value):
    stack = fake_stack(facade={"metadata": {"role": "db"}, "deletion_policy": "Retain", "update_policy": {"batch": 2}})
    assert resource_facade.resolve(kind, literal, stack) == value
    assert stack.asked == [("resource_facade", kind)]


@pytest.mark.parametrize("args", ["Metadata", "properties", {"get_param": "kind"}, ["metadata"]])
def test_validate_refuses_other_kinds(args):
    with pytest.raises(TemplateError) as caught:
        resource_facade.validate(args, ("outputs", "o", "value"))
    assert (caught.value.reason, caught.value.path) == (
        'Incorrect arguments to "resource_facade" should be one of: metadata, deletion_policy, update_policy',
        ("outputs", "o", "value"),
    )


@pytest.mark.parametrize("version", ["2013-05-23", "2016-10-14", "2021-04-16"])
def test_in_every_version(hot, fake_stack, version):
    template = hot.parse(
        version,
        """\
        resources:
          inner:
            type: X
            metadata: {resource_facade: metadata}
        """,
    )
    assert template.resolve(template.resources["inner"].metadata, fake_stack(facade={"metadata": {"a": 1}})) == {"a": 1}


def test_a_stack_without_a_parent_is_told_so(hot):
    template = hot.parse(
        "2013-05-23",
        """\
        outputs:
          o:
            value: {resource_facade: update_policy}
        """,
    )

    class TopLevel:
        files: dict = {}

    with pytest.raises(TemplateError) as caught:
        template.resolve(template.outputs["o"].value, TopLevel(), ("outputs", "o", "value"))
    assert str(caught.value) == (
        "web.yaml:4: outputs.o.value: resource_facade: there is no parent resource to read "
        "from here (only a nested stack's template has one)"
    )


def test_argument_errors_name_file_line_and_path(hot):
    assert (
        hot.error(
            "2013-05-23",
            """\
        outputs:
          o:
            value: {resource_facade: properties}
        """,
        )
        == 'web.yaml:4: outputs.o.value.resource_facade: Incorrect arguments to "resource_facade" should be one of: metadata, deletion_policy, update_policy'
    )
