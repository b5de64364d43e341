"""Render lists of rows and show records as table, json, yaml or value text, and the -f/-c options:
pure but for `emit`, which writes to stdout; no files, no network."""

from __future__ import annotations

import json

import click

from engine.cli.client import CliError

FORMATS = ("table", "json", "yaml", "value")


def cell(value) -> str:
    """One value as table/value text: dicts and lists as compact one-line JSON, never truncated."""
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return str(value)


def table(headers: list[str], rows: list[list]) -> str:
    """An openstack-style box: `+---+` borders, a header row, left-aligned cells.

    A cell with newlines spans several lines of its row instead of being escaped.
    """
    split_rows = [[cell(value).splitlines() or [""] for value in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in split_rows:
        for i, lines in enumerate(row):
            widths[i] = max(widths[i], *(len(line) for line in lines))
    border = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def line(values: list[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=False)) + " |"

    out = [border, line(headers), border]
    for row in split_rows:
        height = max(len(lines) for lines in row)
        for n in range(height):
            out.append(line([lines[n] if n < len(lines) else "" for lines in row]))
    if split_rows:
        out.append(border)
    return "\n".join(out)


def _block(value):
    """A show table's nested value (outputs, parameters) as indented YAML lines, as openstack
    prints them, instead of one very wide line of JSON."""
    if isinstance(value, (dict, list)) and value:
        import yaml  # here: a list command (most of them) never needs PyYAML's ~15 ms import

        return yaml.safe_dump(value, default_flow_style=False, sort_keys=False, allow_unicode=True, width=100).rstrip(
            "\n"
        )
    return value


def choose(available: list[str], wanted: tuple[str, ...] | list[str]) -> list[str]:
    """The columns `-c` asked for, in the order asked, or all of `available`."""
    if not wanted:
        return list(available)
    unknown = [w for w in wanted if w not in available]
    if unknown:
        raise CliError(f"no column {unknown[0]!r}; choose from: {', '.join(available)}")
    return list(wanted)


def render_rows(rows: list[dict], columns: list[str], fmt: str, wanted: tuple[str, ...] = ()) -> str:
    """A list command's answer: one row per item, `columns` taken from each item."""
    columns = choose(columns, wanted)
    if fmt == "table":
        return table(columns, [[row.get(c) for c in columns] for row in rows])
    if fmt == "value":
        return "\n".join(" ".join(cell(row.get(c)) for c in columns) for row in rows)
    return structured([{c: row.get(c) for c in columns} for row in rows], fmt)


def render_record(record: dict, fields: list[str], fmt: str, wanted: tuple[str, ...] = ()) -> str:
    """A show command's answer: a Field/Value table, or the record itself as json/yaml."""
    fields = choose(fields, wanted)
    if fmt == "table":
        return table(["Field", "Value"], [[f, _block(record.get(f))] for f in fields])
    if fmt == "value":
        return "\n".join(cell(record.get(f)) for f in fields)
    return structured({f: record.get(f) for f in fields}, fmt)


def structured(data, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False)
    if fmt == "yaml":
        import yaml  # here, as in _block

        return yaml.safe_dump(data, default_flow_style=False, sort_keys=False, allow_unicode=True).rstrip("\n")
    raise CliError(f"unknown output format {fmt!r}")


def ordered_fields(record: dict, preferred: list[str]) -> list[str]:
    """The preferred fields first (those present), then every other key alphabetically."""
    first = [f for f in preferred if f in record]
    return first + sorted(k for k in record if k not in first)


def format_options(formats: tuple[str, ...] = FORMATS, default: str = "table"):
    """The `-f/--format` and `-c/--column` options every read command takes."""

    def decorate(command):
        command = click.option(
            "-c",
            "--column",
            "columns",
            multiple=True,
            metavar="COLUMN",
            help="Show only this column or field (repeatable).",
        )(command)
        return click.option(
            "-f",
            "--format",
            "fmt",
            type=click.Choice(formats),
            default=default,
            show_default=True,
            help="Output format.",
        )(command)

    return decorate


def emit(text: str) -> None:
    if text:
        click.echo(text)
