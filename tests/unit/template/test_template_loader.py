"""Tests for engine.template.loader: plain data, line numbers, and nothing but TemplateError on bad text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from engine.errors import TemplateError
from engine.template.loader import load_yaml

TEMPLATE = """\
heat_template_version: 2013-05-23
resources:
  web:
    type: OS::Nova::Server
    properties:
      image: cirros
      networks:
        - port: p1
        - port: p2
"""


def test_loads_plain_data():
    data, _ = load_yaml(TEMPLATE, "web.yaml")
    assert data == {
        "heat_template_version": "2013-05-23",
        "resources": {
            "web": {
                "type": "OS::Nova::Server",
                "properties": {"image": "cirros", "networks": [{"port": "p1"}, {"port": "p2"}]},
            }
        },
    }


def test_lines_for_nested_keys_and_list_items():
    _, lines = load_yaml(TEMPLATE, "web.yaml")
    assert lines[("heat_template_version",)] == 1
    assert lines[("resources", "web")] == 3
    assert lines[("resources", "web", "properties", "image")] == 6
    assert lines[("resources", "web", "properties", "networks", 0)] == 8
    assert lines[("resources", "web", "properties", "networks", 1, "port")] == 9


def test_dates_and_timestamps_stay_strings():
    data, _ = load_yaml("a: 2013-05-23\nb: 2001-12-14t21:59:43.10-05:00\n", "t.yaml")
    assert data == {"a": "2013-05-23", "b": "2001-12-14t21:59:43.10-05:00"}


def test_scalars_keep_their_yaml_types():
    data, _ = load_yaml("i: 3\nf: 2.5\nb: true\nn: null\ns: '3'\n", "t.yaml")
    assert data == {"i": 3, "f": 2.5, "b": True, "n": None, "s": "3"}
    assert isinstance(data["i"], int) and isinstance(data["s"], str)


def test_json_text_is_yaml_with_lines():
    data, lines = load_yaml('{\n  "resources": {\n    "web": {"type": "X"}\n  }\n}\n', "t.json")
    assert data == {"resources": {"web": {"type": "X"}}}
    assert lines[("resources", "web")] == 3


def test_duplicate_key_names_file_line_and_path():
    text = "resources:\n  web:\n    type: A\n  web:\n    type: B\n"
    with pytest.raises(TemplateError) as caught:
        load_yaml(text, "web.yaml")
    assert str(caught.value) == "web.yaml:4: resources.web: duplicate key 'web'"


def test_syntax_error_names_line_from_the_yaml_mark():
    text = "resources:\n  web:\n    type: A\n  bad: [1, 2\n"
    with pytest.raises(TemplateError) as caught:
        load_yaml(text, "web.yaml")
    assert caught.value.file == "web.yaml"
    assert caught.value.line == 5
    assert caught.value.reason.startswith(
        "Template not in valid format: Error parsing template web.yaml while parsing a flow sequence\n  in \"<unicode string>\", line 4, column 8:\n      bad: [1, 2\n           ^\nexpected ',' or ']', but got '<stream end>'\n  in \"<unicode string>\", line 5, column 1:\n    \n    ^"
    )


def test_mapping_values_not_allowed_is_reported_on_its_line():
    with pytest.raises(TemplateError) as caught:
        load_yaml("a: 1\nb: c: d\n", "t.yaml")
    assert (
        str(caught.value)
        == 't.yaml:2: Template not in valid format: Error parsing template t.yaml mapping values are not allowed here\n  in "<unicode string>", line 2, column 5:\n    b: c: d\n        ^'
    )


@pytest.mark.parametrize("text, kind", [("- a\n- b\n", "a list"), ("just text\n", "a single value")])
def test_document_must_be_a_mapping(text, kind):
    with pytest.raises(TemplateError) as caught:
        load_yaml(text, "t.yaml")
    assert str(caught.value) == (
        f"t.yaml:1: Template not in valid format: The template is not a JSON object or YAML mapping. (it is {kind})"
    )


def test_empty_document_is_an_error_unless_allowed():
    with pytest.raises(TemplateError) as caught:
        load_yaml("# nothing\n", "t.yaml")
    assert str(caught.value) == "t.yaml:1: Template not in valid format: Template format version not found."
    assert load_yaml("# nothing\n", "env.yaml", allow_empty=True) == ({}, {(): 1})


def test_unprintable_character_is_reported_with_its_line():
    with pytest.raises(TemplateError) as caught:
        load_yaml("a: 1\nb: \x00\n", "t.yaml")
    assert str(caught.value) == "t.yaml:2: invalid YAML: character '\\x00' is not allowed"


def test_recursive_alias_is_refused():
    with pytest.raises(TemplateError) as caught:
        load_yaml("a: &loop [1, *loop]\n", "t.yaml")
    assert str(caught.value) == "t.yaml:1: a.1: an alias refers to a collection that contains it"


def test_alias_expansion_is_bounded():
    levels = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    for number in range(1, 7):
        levels.append(f"l{number}: &l{number} [" + ", ".join([f"*l{number - 1}"] * 10) + "]")
    with pytest.raises(TemplateError) as caught:
        load_yaml("\n".join(levels) + "\n", "t.yaml")
    assert caught.value.reason == "the document expands to too many values through aliases"


def test_aliases_within_budget_are_copied_not_shared():
    data, _ = load_yaml("a: &x {k: [1]}\nb: *x\n", "t.yaml")
    assert data["a"] == data["b"] and data["a"] is not data["b"]


def test_merge_keys_are_merged_and_explicit_keys_win():
    data, lines = load_yaml("base: &b {k: 1, j: 1}\nc:\n  <<: *b\n  j: 2\n", "t.yaml")
    assert data["c"] == {"k": 1, "j": 2}
    assert lines[("c", "j")] == 4


def test_deep_nesting_is_an_error_not_a_crash():
    with pytest.raises(TemplateError) as caught:
        load_yaml("a: " + "[" * 5000 + "]" * 5000 + "\n", "t.yaml")
    assert caught.value.reason == "the document is nested too deeply"


@pytest.mark.parametrize(
    "text, reason",
    [
        ("a: !!binary aGVsbG8=\n", "unsupported YAML tag 'tag:yaml.org,2002:binary'"),
        ("a: !!set {x, y}\n", "unsupported YAML tag 'tag:yaml.org,2002:set'"),
        ("a: " + "1" * 5000 + "\n", "invalid int value"),
        ("? [a, b]\n: 1\n", "mapping keys must be strings or numbers"),
        ("a: !custom x\n", "invalid YAML: could not determine a constructor for the tag '!custom'"),
    ],
)
def test_values_json_cannot_hold_are_refused(text, reason):
    with pytest.raises(TemplateError) as caught:
        load_yaml(text, "t.yaml")
    assert caught.value.reason == reason
    assert caught.value.line == 1


def test_non_text_is_refused():
    with pytest.raises(TemplateError) as caught:
        load_yaml(b"a: 1", "t.yaml")
    assert str(caught.value) == "t.yaml: expected YAML or JSON text, not bytes"


YAMLISH = st.text(alphabet=list("ab01 :-[]{},&*!|>?#'\"\n\t%@`<\\.") + ["\x00", "é", "\ufeff"], max_size=80)


@settings(max_examples=200, deadline=None, database=None)
@given(st.one_of(st.text(max_size=80), YAMLISH))
def test_any_text_loads_or_raises_template_error(text):
    try:
        data, lines = load_yaml(text, "fuzz.yaml")
    except TemplateError as error:  # either outcome is right, so no pytest.raises
        assert error.file == "fuzz.yaml"  # noqa: PT017
    else:
        assert isinstance(data, dict)
        assert all(isinstance(line, int) and line >= 1 for line in lines.values())


def test_nesting_is_held_to_a_hundred_levels_before_anything_walks_it():
    # 350 levels compose without a RecursionError but overflowed the engine's recursive walks
    # of the data later (a 500 answer); 100 levels, counting the document, are kept.
    assert load_yaml("a: " + "[" * 99 + "]" * 99 + "\n", "t.yaml")[0]["a"] is not None
    for levels in (100, 350):
        with pytest.raises(TemplateError) as caught:
            load_yaml("a: " + "[" * levels + "]" * levels + "\n", "t.yaml")
        assert str(caught.value) == "t.yaml:1: the document nests more than 100 levels deep"
