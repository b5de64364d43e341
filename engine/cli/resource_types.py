"""`hearth resource type list|show` (also `hearth orchestration resource type ...`): speaks HTTP
only, through the context's HearthClient; no files.

The resource types this installation offers, their schemas and generated templates.
"""

from __future__ import annotations

import click

from engine.cli.formatting import emit, format_options, ordered_fields, render_record, render_rows
from engine.cli.resources import key_values

FILTERS = ("name", "version", "support_status")


@click.group("type")
def resource_type():
    """Resource types: what a template's `type:` may name."""


@resource_type.command("list")
@click.option(
    "--filter",
    "filters",
    multiple=True,
    metavar="KEY=VALUE",
    help="name (a regular expression), version or support_status (repeatable).",
)
@click.option("--long", "long_", is_flag=True, help="Add each type's description.")
@format_options()
@click.pass_obj
def list_(conn, filters, long_, fmt, columns):
    """List the resource types."""
    params = key_values(filters, "--filter")
    unknown = sorted(set(params) - set(FILTERS))
    if unknown:
        raise click.UsageError(f"--filter takes {', '.join(FILTERS)}, not {', '.join(unknown)}")
    if long_:
        params["with_description"] = "true"
    rows = conn.client.list_resource_types(params)
    rows = [row if isinstance(row, dict) else {"resource_type": row} for row in rows]
    emit(render_rows(rows, ["resource_type"] + ["description"] * long_, fmt, columns))


@resource_type.command("show")
@click.argument("type_name", metavar="TYPE")
@click.option(
    "--template-type",
    type=click.Choice(["hot", "cfn"]),
    help="Show the template Heat generates for the type (its properties as "
    "parameters, its attributes as outputs) instead of its schema.",
)
@click.option("--long", "long_", is_flag=True, help="Add the type's description.")
@format_options(default="yaml")
@click.pass_obj
def show(conn, type_name, template_type, long_, fmt, columns):
    """Show the properties, attributes and support status of resource type TYPE."""
    if template_type:
        record = conn.client.resource_type_template(type_name, template_type)
    else:
        record = conn.client.get_resource_type(type_name, with_description=long_)
    emit(
        render_record(
            record,
            ordered_fields(
                record, ["resource_type", "heat_template_version", "HeatTemplateFormatVersion", "description"]
            ),
            fmt,
            columns,
        )
    )
