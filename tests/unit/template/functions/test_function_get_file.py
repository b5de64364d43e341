"""Tests for the get_file function."""

from __future__ import annotations

import pytest

from engine.errors import TemplateError
from engine.template.functions import get_file


def literal(snippet, *segments):
    return snippet


def test_resolve_reads_the_files_map(fake_stack):
    assert get_file.resolve("boot.sh", literal, fake_stack(files={"boot.sh": "#!/bin/sh\n"})) == "#!/bin/sh\n"


def test_missing_file_is_an_error(fake_stack):
    with pytest.raises(TemplateError) as caught:
        get_file.resolve("boot.sh", literal, fake_stack(files={"other": ""}))
    assert caught.value.reason == 'No content found in the "files" section for get_file path: boot.sh'


def test_name_may_come_from_a_call_but_must_be_a_string(fake_stack):
    stack = fake_stack(files={"a.sh": "A"})
    assert get_file.resolve({"get_param": "f"}, lambda snippet, *segments: "a.sh", stack) == "A"
    with pytest.raises(TemplateError) as caught:
        get_file.resolve({"get_param": "f"}, lambda snippet, *segments: ["a.sh"], stack)
    assert caught.value.reason == 'Argument to "get_file" must be a string'


@pytest.mark.parametrize("args", ["", ["a.sh"], 3])
def test_validate_leaves_the_name_to_resolve(args):
    # Heat checks these arguments only when it resolves them, and so does Hearth.
    get_file.validate(args, ("resources", "web", "properties", "user_data"))


def test_reference_names_literal_files_only():
    assert get_file.reference("a.sh") == ("file", "a.sh")
    assert get_file.reference({"get_param": "f"}) is None
