"""`hearth template version list|function list|validate` (also `hearth orchestration template
...`): speaks HTTP through the context's HearthClient; validate reads the local template files.

The template versions and functions the server knows, and a template checked without making
anything.
"""

from __future__ import annotations

import click

from engine.cli.formatting import emit, format_options, ordered_fields, render_record, render_rows
from engine.cli.groups import LazyGroup
from engine.cli.stack_request import parse_parameters, template_fields
from engine.cli.stacks import environment_options

VALIDATE_FIELDS = ["Description", "Parameters", "ParameterGroups", "NestedParameters", "Environment"]


@click.group()
def template():
    """Template versions, functions and validation."""


@template.group("version")
def version():
    """Template versions."""


@version.command("list")
@format_options()
@click.pass_obj
def version_list(conn, fmt, columns):
    """List the template versions the server accepts."""
    emit(render_rows(conn.client.template_versions(), ["version", "type", "aliases"], fmt, columns))


@template.group("function")
def function():
    """Intrinsic functions."""


@function.command("list")
@click.argument("template_version", metavar="VERSION")
@click.option(
    "-C",
    "--with-conditions",
    "--with_conditions",
    "with_conditions",
    is_flag=True,
    help="Add the functions the conditions section may use.",
)
@format_options()
@click.pass_obj
def function_list(conn, template_version, with_conditions, fmt, columns):
    """List the functions of VERSION (as `template version list` names it, such as
    heat_template_version.2018-08-31)."""
    rows = conn.client.template_functions(template_version, with_condition=with_conditions)
    emit(render_rows(rows, ["functions", "description"], fmt, columns))


@template.command("validate")
@click.option(
    "-t",
    "--template",
    "template_file",
    required=True,
    metavar="FILE",
    help="Template file; its get_file references are sent with it.",
)
@environment_options
@click.option("--show-nested", is_flag=True, help="Also show the parameters of nested templates.")
@format_options(default="yaml")
@click.pass_obj
def validate(conn, template_file, env_files, parameters, show_nested, fmt, columns):
    """Check a template (and environments) as a create would, without making anything; print
    its description, parameters and parameter groups."""
    body = template_fields(template_file, env_files, parse_parameters(parameters))
    answer = conn.client.validate(body, show_nested=show_nested)
    emit(render_record(answer, ordered_fields(answer, VALIDATE_FIELDS), fmt, columns))


# openstack's spelling: `orchestration template ...` and `orchestration resource type ...`
resource_types = LazyGroup(
    "resource", help="Resource types.", lazy_commands={"type": "engine.cli.resource_types:resource_type"}
)
orchestration = click.Group(
    "orchestration",
    commands={"template": template, "resource": resource_types},
    help="Resource types and templates (openstack's spelling).",
)
