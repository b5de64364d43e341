"""`hearth output list|show`: speaks HTTP only, through the context's HearthClient; no files.

Stack outputs; `show -f json` without KEY is a key → value map.
"""

from __future__ import annotations

import click

from engine.cli.formatting import emit, format_options, render_record, render_rows, structured

ALL_COLUMNS = ["output_key", "output_value", "description"]
LIST_COLUMNS = ["output_key", "description"]


def output_fields(record: dict) -> list[str]:
    """output_key, output_value, description, and output_error only when there is one."""
    return ALL_COLUMNS + (["output_error"] if record.get("output_error") else [])


def all_outputs(client, target: dict) -> list[dict]:
    """Every output with its value: the stack body carries them; else ask for each key."""
    outputs = target.get("outputs")
    if isinstance(outputs, list) and all("output_value" in o for o in outputs):
        return outputs
    return [client.get_output(target, o["output_key"]) for o in client.list_outputs(target)]


@click.group()
def output():
    """List and show stack outputs."""


@output.command("list")
@click.argument("stack_name_or_id", metavar="STACK")
@format_options()
@click.pass_obj
def list_(conn, stack_name_or_id, fmt, columns):
    """List the output keys of STACK."""
    target = conn.client.get_stack(stack_name_or_id)
    emit(render_rows(conn.client.list_outputs(target), LIST_COLUMNS, fmt, columns))


@output.command("show")
@click.argument("stack_name_or_id", metavar="STACK")
@click.argument("key", required=False)
@click.option("--all", "all_", is_flag=True, help="Show every output (the default without KEY).")
@format_options()
@click.pass_obj
def show(conn, stack_name_or_id, key, all_, fmt, columns):
    """Show output KEY of STACK, or all its outputs.

    Without KEY, `-f json` and `-f yaml` print one mapping of output_key to output_value.
    """
    if key and all_:
        raise click.UsageError("give either KEY or --all, not both")
    target = conn.client.get_stack(stack_name_or_id)
    if key:
        record = conn.client.get_output(target, key)
        emit(render_record(record, output_fields(record), fmt, columns))
        return
    outputs = all_outputs(conn.client, target)
    if fmt in ("json", "yaml"):
        emit(structured({o["output_key"]: o.get("output_value") for o in outputs}, fmt))
        return
    emit(render_rows(outputs, ALL_COLUMNS, fmt, columns))
