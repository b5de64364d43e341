"""Tests for digest (2015-04-30 on): Heat's digests, algorithms, and argument errors."""

from __future__ import annotations

import hashlib

import pytest

from engine.errors import TemplateError
from engine.template.functions import digest


def literal(snippet, *segments):
    return snippet


@pytest.mark.parametrize(
    "algorithm, value, expected",
    [
        ("md5", "abc", "900150983cd24fb0d6963f7d28e17f72"),
        ("sha256", "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("SHA1", "", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
    ],
)
def test_hex_digests(algorithm, value, expected):
    assert digest.resolve([algorithm, value], literal, None) == expected


def test_text_is_hashed_as_latin_1_as_heat_does():
    assert digest.resolve(["sha256", "café"], literal, None) == hashlib.sha256("café".encode("latin-1")).hexdigest()
    with pytest.raises(TemplateError) as caught:
        digest.resolve(["sha256", "☃"], literal, None)
    assert caught.value.reason == "digest: the value must be Latin-1 text, as Heat hashes it"


def test_variable_length_algorithms_are_not_offered():
    assert "sha512" in digest.algorithms() and not any(name.startswith("shake") for name in digest.algorithms())


@pytest.mark.parametrize(
    "args, reason",
    [
        (["sha256", 5], 'Argument to function "digest" must be a list of strings'),
        ([None, "x"], 'Argument to function "digest" must be a list of strings'),
        (["rot13", "x"], "Algorithm must be one of {"),
    ],
)
def test_resolve_errors(args, reason):
    with pytest.raises(TemplateError) as caught:
        digest.resolve(args, literal, None)
    assert caught.value.reason.startswith(reason)


@pytest.mark.parametrize(
    "args, reason",
    [
        ("sha256", "digest: expected [algorithm, value]"),
        (["sha256"], "digest: expected [algorithm, value]"),
        (["sha256", "a", "b"], "digest: expected [algorithm, value]"),
        ([["sha256"], "a"], "digest: the algorithm must be a string"),
        (["sha256", 1], "digest: the value must be a string"),
        (["nope", "a"], "digest: unknown algorithm 'nope' (one of: "),
    ],
)
def test_validate_leaves_shapes_to_resolve(args, reason):
    # Heat checks these arguments only when it resolves them, and so does Hearth.
    digest.validate(args, ("outputs", "o", "value"))


def test_validate_accepts_calls():
    digest.validate([{"get_param": "algorithm"}, {"get_attr": ["web", "key"]}], ())


def test_needs_2015_04_30(hot, fake_stack):
    body = """\
        parameters:
          key: {type: string}
        outputs:
          o: {value: {digest: [sha256, {get_param: key}]}}
        """
    # A function of a later version is data before it, to Heat and Hearth alike.
    hot.parse("2014-10-16", body)
    template = hot.parse("2015-04-30", body)
    assert template.resolve(template.outputs["o"].value, fake_stack(params={"key": "abc"})) == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
