"""Table, json, yaml and value rendering of lists and show records."""

from __future__ import annotations

import json

import pytest
import yaml

from engine.cli.client import CliError
from engine.cli.formatting import cell, ordered_fields, render_record, render_rows, table

ROWS = [
    {"id": "1", "stack_name": "demo", "stack_status": "CREATE_COMPLETE", "extra": "x"},
    {"id": "22", "stack_name": "a-much-longer-name", "stack_status": None},
]
COLUMNS = ["id", "stack_name", "stack_status"]


def test_cells():
    assert cell("text") == "text"
    assert cell(None) == "None"
    assert cell(3) == "3"
    assert cell(True) == "True"
    assert cell({"a": [1, 2]}) == '{"a": [1, 2]}'
    assert cell(["x"]) == '["x"]'


def test_list_table_is_an_openstack_box():
    assert render_rows(ROWS, COLUMNS, "table") == "\n".join(
        [
            "+----+--------------------+-----------------+",
            "| id | stack_name         | stack_status    |",
            "+----+--------------------+-----------------+",
            "| 1  | demo               | CREATE_COMPLETE |",
            "| 22 | a-much-longer-name | None            |",
            "+----+--------------------+-----------------+",
        ]
    )


def test_empty_list_table_keeps_its_header():
    assert render_rows([], ["id"], "table") == "+----+\n| id |\n+----+"


def test_list_json_yaml_value():
    assert json.loads(render_rows(ROWS, COLUMNS, "json")) == [
        {"id": "1", "stack_name": "demo", "stack_status": "CREATE_COMPLETE"},
        {"id": "22", "stack_name": "a-much-longer-name", "stack_status": None},
    ]
    assert yaml.safe_load(render_rows(ROWS, COLUMNS, "yaml")) == json.loads(render_rows(ROWS, COLUMNS, "json"))
    assert render_rows(ROWS, COLUMNS, "value") == ("1 demo CREATE_COMPLETE\n22 a-much-longer-name None")


def test_columns_are_chosen_in_the_order_asked():
    assert render_rows(ROWS, COLUMNS, "value", ("stack_name", "id")) == ("demo 1\na-much-longer-name 22")
    with pytest.raises(CliError, match="no column 'nope'; choose from: id, stack_name"):
        render_rows(ROWS, COLUMNS, "table", ("nope",))


RECORD = {
    "id": "abc",
    "stack_name": "demo",
    "parameters": {"flavor": "m1"},
    "outputs": [{"output_key": "ip", "output_value": "10.0.0.5"}],
    "description": "line one\nline two",
}


def test_record_table_has_field_value_columns_and_yaml_blocks():
    long = "x" * 300
    text = render_record(dict(RECORD, stack_name=long), list(RECORD), "table")
    lines = text.splitlines()
    assert lines[1] == "| Field       | Value" + " " * (len(lines[0]) - 22) + "|"
    assert f"| stack_name  | {long} |" in lines  # long values are not truncated
    # nested values are indented YAML lines, as openstack shows them
    assert "| parameters  | flavor: m1 " in text
    assert [row[:40].rstrip() for row in lines if "output_" in row] == [
        "| outputs     | - output_key: ip",
        "|             |   output_value: 10.0.0.5",
    ]
    # a multi-line value spans lines inside its row
    assert [row[:28] for row in lines if "line " in row] == [
        "| description | line one    ",
        "|             | line two    ",
    ]


def test_record_json_yaml_value_keep_structure():
    assert json.loads(render_record(RECORD, list(RECORD), "json")) == RECORD
    assert yaml.safe_load(render_record(RECORD, list(RECORD), "yaml")) == RECORD
    assert render_record(RECORD, ["id", "parameters"], "value") == 'abc\n{"flavor": "m1"}'
    assert render_record(RECORD, list(RECORD), "value", ("stack_name",)) == "demo"


def test_yaml_keeps_key_order():
    assert render_record({"b": 1, "a": 2}, ["b", "a"], "yaml") == "b: 1\na: 2"


def test_ordered_fields_put_preferred_first_then_the_rest_sorted():
    assert ordered_fields({"z": 1, "id": 2, "b": 3, "stack_name": 4}, ["id", "stack_name", "absent"]) == [
        "id",
        "stack_name",
        "b",
        "z",
    ]


def test_bare_table():
    assert table(["a"], [[""]]) == "+---+\n| a |\n+---+\n|   |\n+---+"
