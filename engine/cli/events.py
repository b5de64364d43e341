"""`hearth event list [--follow]`: speaks HTTP only, through the context's HearthClient; no files.

A stack's events, streamed with the long-poll when following; without a stack, the project's
event stream (`GET /v1/{project}/events`), followed with its long-poll.
"""

from __future__ import annotations

import json

import click

from engine.cli.formatting import FORMATS, cell, choose, emit, format_options, render_rows
from engine.cli.waiting import POLL_WAIT, event_line, follow

LIST_COLUMNS = ["id", "resource_name", "resource_status", "resource_status_reason", "event_time"]
STREAM_FORMATS = ("log", "json", "value")
STREAM_PAGE = 500  # events per request when reading the project's stream


def event_printer(fmt: str, columns: list[str]):
    """How one event is printed while streaming: a log line, a JSON line or a value line."""
    if fmt == "log":
        return lambda event: click.echo(event_line(event))
    if fmt == "json":
        return lambda event: click.echo(json.dumps({c: event.get(c) for c in columns}, ensure_ascii=False))
    return lambda event: click.echo(" ".join(cell(event.get(c)) for c in columns))


STREAM_COLUMNS = ["sequence", "stack_name", "resource_name", "resource_status", "resource_status_reason", "event_time"]


@click.group()
def event():
    """List and follow a stack's events, or the project's event stream."""


@event.command("list")
@click.argument("stack_name_or_id", metavar="[STACK]", required=False)
@click.option(
    "--follow",
    "follow_",
    is_flag=True,
    help="Keep printing new events until Ctrl-C (with STACK: until the stack is deleted).",
)
@click.option(
    "--since",
    type=click.IntRange(min=0),
    default=None,
    help="Without STACK: print the project's events numbered above this one (default: all; with "
    "--follow, only those to come).",
)
@format_options(("log",) + FORMATS, default="log")
@click.pass_obj
def list_(conn, stack_name_or_id, follow_, since, fmt, columns):
    """List the events of STACK, oldest first; without STACK, the project's event stream (every
    stack's events, numbered in the order they were stored)."""
    if follow_ and fmt not in STREAM_FORMATS:
        raise click.UsageError(f"--follow prints -f {', '.join(STREAM_FORMATS)}, not {fmt}")
    if stack_name_or_id is None:
        project_stream(conn, follow_, since, fmt, columns)
        return
    if since is not None:
        raise click.UsageError("--since reads the project's event stream: give it without STACK")
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


def project_stream(conn, follow_: bool, since: int | None, fmt: str, columns) -> None:
    """The project's events after `since`; following, with the stream's long-poll, for ever."""
    client = conn.client
    if since is None:
        since = client.event_stream(limit=1)["latest"] if follow_ else 0
    if not follow_:
        events: list[dict] = []
        while True:
            page = client.event_stream(since=since, limit=STREAM_PAGE)
            events += page["events"]
            if not page["events"] or page["next"] >= page["latest"]:
                break
            since = page["next"]
        if fmt == "log":
            emit("\n".join(stream_line(e) for e in events))
        else:
            emit(render_rows(events, STREAM_COLUMNS, fmt, columns))
        return
    printer = (
        (lambda e: click.echo(stream_line(e))) if fmt == "log" else event_printer(fmt, choose(STREAM_COLUMNS, columns))
    )
    while True:
        page = client.event_stream(since=since, limit=STREAM_PAGE, wait=POLL_WAIT)
        for e in page["events"]:
            printer(e)
        since = page["next"]


def stream_line(event: dict) -> str:
    """One stream event as a log line: its number and stack, then the stack event's own line."""
    return f"#{event.get('sequence')} {event.get('stack_name')}: {event_line(event)}"
