"""`hearth fact list|show|set|delete`: speaks HTTP only, through the context's HearthClient; no
files.

A stack's facts (docs/facts.md), addressed through the resolved stack: the facts of its tree,
kept with its top-level stack. `set` takes the value as text, or as JSON with `--json`;
`--cas INDEX` sets or deletes only while the fact's modify_index is INDEX (0: only if absent).
"""

from __future__ import annotations

import json
from urllib.parse import quote

import click

from engine.cli.client import CliError, stack_path
from engine.cli.formatting import emit, format_options, render_record, render_rows, structured

LIST_COLUMNS = ["key", "value", "modify_index", "writer"]
SHOW_FIELDS = ["key", "value", "create_index", "modify_index", "writer", "bound", "updated_at"]


def facts_path(stack: dict, key: str | None = None) -> str:
    path = f"{stack_path(stack)}/facts"
    return path if key is None else f"{path}/{quote(key, safe='/')}"


@click.group()
def fact():
    """List, show, set and delete a stack's facts."""


@fact.command("list")
@click.argument("stack_name_or_id", metavar="STACK")
@click.option("--prefix", default="", help="Only the keys that start with PREFIX.")
@format_options()
@click.pass_obj
def list_(conn, stack_name_or_id, prefix, fmt, columns):
    """List the facts of STACK's tree; `-f json` prints one mapping of key to value."""
    target = conn.client.get_stack(stack_name_or_id)
    listing = conn.client.request("GET", facts_path(target), params={"prefix": prefix} if prefix else None)
    facts = listing["facts"]
    if fmt in ("json", "yaml"):
        emit(structured({f["key"]: f["value"] for f in facts}, fmt))
        return
    emit(render_rows([{**f, "value": _shown(f["value"])} for f in facts], LIST_COLUMNS, fmt, columns))


@fact.command("show")
@click.argument("stack_name_or_id", metavar="STACK")
@click.argument("key")
@format_options()
@click.pass_obj
def show(conn, stack_name_or_id, key, fmt, columns):
    """Show fact KEY of STACK."""
    target = conn.client.get_stack(stack_name_or_id)
    emit(render_record(conn.client.request("GET", facts_path(target, key)), SHOW_FIELDS, fmt, columns))


@fact.command("set")
@click.argument("stack_name_or_id", metavar="STACK")
@click.argument("key")
@click.argument("value")
@click.option("--json", "as_json", is_flag=True, help="Read VALUE as JSON (a number, a list, an object).")
@click.option(
    "--cas",
    type=click.IntRange(min=0),
    default=None,
    metavar="INDEX",
    help="Only if the fact's modify_index is INDEX (0: only if absent).",
)
@format_options()
@click.pass_obj
def set_(conn, stack_name_or_id, key, value, as_json, cas, fmt, columns):
    """Set fact KEY of STACK to VALUE."""
    if as_json:
        try:
            value = json.loads(value)
        except ValueError as error:
            raise CliError(f"--json: VALUE is not JSON: {error}") from None
    stack = conn.client.get_stack(stack_name_or_id)
    answer = conn.client.request(
        "PUT", facts_path(stack, key), params=None if cas is None else {"cas": cas}, body={"value": value}
    )
    emit(render_record(answer, SHOW_FIELDS, fmt, columns))


@fact.command("delete")
@click.argument("stack_name_or_id", metavar="STACK")
@click.argument("key")
@click.option(
    "--cas", type=click.IntRange(min=0), default=None, metavar="INDEX", help="Only if the fact's modify_index is INDEX."
)
@click.pass_obj
def delete(conn, stack_name_or_id, key, cas):
    """Delete fact KEY of STACK."""
    stack = conn.client.get_stack(stack_name_or_id)
    answer = conn.client.request("DELETE", facts_path(stack, key), params=None if cas is None else {"cas": cas})
    emit(f"deleted {key} (index {answer['index']})")


def _shown(value) -> str:
    """A value in a table cell: text as it is, anything else as compact JSON."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
