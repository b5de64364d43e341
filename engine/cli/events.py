"""`hearth event list [--follow]`: speaks HTTP only, through the context's HearthClient; no files.

A stack's events, streamed with the long-poll when following.
"""

from __future__ import annotations

import json

import click

from engine.cli.formatting import FORMATS, cell, choose, emit, format_options, render_rows
from engine.cli.waiting import event_line, follow

LIST_COLUMNS = ["id", "resource_name", "resource_status", "resource_status_reason", "event_time"]
STREAM_FORMATS = ("log", "json", "value")


def event_printer(fmt: str, columns: list[str]):
    """How one event is printed while streaming: a log line, a JSON line or a value line."""
    if fmt == "log":
        return lambda event: click.echo(event_line(event))
    if fmt == "json":
        return lambda event: click.echo(json.dumps({c: event.get(c) for c in columns}, ensure_ascii=False))
    return lambda event: click.echo(" ".join(cell(event.get(c)) for c in columns))


@click.group()
def event():
    """List and follow a stack's events."""


@event.command("list")
@click.argument("stack_name_or_id", metavar="STACK")
@click.option(
    "--follow", "follow_", is_flag=True, help="Keep printing new events until Ctrl-C or until the stack is deleted."
)
@format_options(("log",) + FORMATS, default="log")
@click.pass_obj
def list_(conn, stack_name_or_id, follow_, fmt, columns):
    """List the events of STACK, oldest first."""
    if follow_ and fmt not in STREAM_FORMATS:
        raise click.UsageError(f"--follow prints -f {', '.join(STREAM_FORMATS)}, not {fmt}")
    target = conn.client.get_stack(stack_name_or_id)
    feed = conn.feed(target)
    events = feed.backlog()
    if not follow_:
        if fmt == "log":
            emit("\n".join(event_line(e) for e in events))
        else:
            emit(render_rows(events, LIST_COLUMNS, fmt, columns))
        return
    printer = event_printer(fmt, choose(LIST_COLUMNS, columns))
    for e in events:
        printer(e)
    follow(feed, printer)
