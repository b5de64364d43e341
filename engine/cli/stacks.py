"""`hearth stack create|list|show|delete`: one request shape per verb, waits by long-poll."""
from __future__ import annotations

import click

from engine.cli.client import ApiError, CliError
from engine.cli.output import emit, format_options, ordered_fields, render_record, render_rows
from engine.cli.stack_request import parse_parameters, stack_body
from engine.cli.waiting import wait_for

LIST_COLUMNS = ["id", "stack_name", "stack_status", "creation_time", "updated_time"]
CREATED_FIELDS = ["id", "stack_name", "stack_status", "creation_time"]
SHOW_FIELDS = ["id", "stack_name", "description", "creation_time", "updated_time",
               "stack_status", "stack_status_reason", "parameters", "outputs", "timeout_mins",
               "disable_rollback"]


def progress_echo(fmt: str):
    """Where --wait prints events: stdout beside a table, stderr when stdout must parse."""
    err = fmt != "table"
    return lambda line: click.echo(line, err=err)


def show_stack(stack: dict, fmt: str, columns: tuple[str, ...]) -> None:
    emit(render_record(stack, ordered_fields(stack, SHOW_FIELDS), fmt, columns))


@click.group()
def stack():
    """Create, list, show and delete stacks."""


@stack.command("create")
@click.argument("name")
@click.option("-t", "--template", "template_file", required=True, metavar="FILE",
              help="Template file; its get_file references are sent with it.")
@click.option("-e", "--environment", "env_files", multiple=True, metavar="ENV",
              help="Environment file (repeatable, applied in order).")
@click.option("--parameter", "parameters", multiple=True, metavar="KEY=VALUE",
              help="Parameter value (repeatable; 'K1=V1;K2=V2' also works).")
@click.option("--timeout", "timeout_mins", type=click.IntRange(min=1), metavar="MINUTES",
              help="Stack creation timeout in minutes.")
@click.option("--wait", is_flag=True, help="Stream events until the create finishes.")
@format_options()
@click.pass_obj
def create(conn, name, template_file, env_files, parameters, timeout_mins, wait, fmt, columns):
    """Create stack NAME from a template file."""
    body = stack_body(name, template_file, env_files, parse_parameters(parameters),
                      timeout_mins)
    created = conn.client.create_stack(body)
    if not wait:
        new = conn.client.get_stack(created["id"])
        emit(render_record(new, CREATED_FIELDS, fmt, columns))
        return
    outcome, reason = wait_for(conn.feed({"id": created["id"], "stack_name": name}), "CREATE",
                               progress_echo(fmt))
    if outcome == "FAILED":
        raise CliError(reason or f"stack {name} CREATE_FAILED")
    show_stack(conn.client.get_stack(created["id"]), fmt, columns)


@stack.command("list")
@format_options()
@click.pass_obj
def list_(conn, fmt, columns):
    """List stacks."""
    emit(render_rows(conn.client.list_stacks(), LIST_COLUMNS, fmt, columns))


@stack.command("show")
@click.argument("name_or_id")
@format_options()
@click.pass_obj
def show(conn, name_or_id, fmt, columns):
    """Show one stack, by name or id (a deleted stack only by id)."""
    show_stack(conn.client.get_stack(name_or_id), fmt, columns)


@stack.command("delete")
@click.argument("names", nargs=-1, required=True, metavar="NAME_OR_ID...")
@click.option("--wait", is_flag=True, help="Stream events until each delete finishes.")
@click.option("-y", "--yes", is_flag=True, help="Accepted for compatibility; never prompts.")
@click.pass_context
def delete(ctx, names, wait, yes):
    """Delete stacks; the server deletes in the background unless --wait follows it."""
    conn = ctx.obj
    failures: list[str] = []

    def fail(name: str, message: str) -> None:
        failures.append(name)
        click.echo(f"ERROR: {name}: {message}" if len(names) > 1 else f"ERROR: {message}",
                   err=True)

    started = []
    for name in names:
        try:
            target = conn.client.get_stack(name)
            if target.get("stack_status") == "DELETE_COMPLETE":
                fail(name, f"stack {name} is already deleted")
                continue
            feed = conn.feed(target)
            if wait:
                feed.backlog()  # events up to now are history; follow only this delete's
            conn.client.delete_stack(target)
        except ApiError as exc:  # one missing stack must not stop the others
            fail(name, exc.message)
            continue
        started.append((name, target, feed))
    for name, target, feed in started if wait else ():
        outcome, reason = wait_for(feed, "DELETE", click.echo,
                                   before_status=target.get("stack_status"))
        if outcome == "FAILED":
            fail(name, reason or f"stack {name} DELETE_FAILED")
    if failures:
        ctx.exit(1)
