"""str_replace (2015-10-15 on): substitute params into a template string; maps and lists are rendered as JSON."""
from __future__ import annotations

from typing import Any, Callable

from engine.errors import TemplateError
from engine.template.functions.args import is_call, to_json, type_name

USAGE = "str_replace: expected {template: <string>, params: {<placeholder>: <value>, ...}}"


def check_arguments(args: Any, path: tuple) -> None:
    """Check the `{template, params}` shape shared by every version of str_replace."""
    if not isinstance(args, dict) or set(args) != {"template", "params"}:
        raise TemplateError(USAGE, path=path)
    template, params = args["template"], args["params"]
    if not (isinstance(template, str) or is_call(template)):
        raise TemplateError("str_replace: template must be a string", path=path)
    if not isinstance(params, dict):
        raise TemplateError("str_replace: params must be a map", path=path)
    # A call ({get_param: values}) passes too: its one key is a non-empty string.
    _check_placeholders(params, path)


def _check_placeholders(params: dict, path: tuple = ()) -> None:
    for key in params:
        if not isinstance(key, str) or not key:
            raise TemplateError(f"str_replace: placeholder {key!r} must be a non-empty string",
                                path=path)


def validate(args: Any, path: tuple) -> None:
    check_arguments(args, path)


def resolve(args: Any, evaluate, context) -> str:
    return substitute(args, evaluate, as_text)


def as_text(placeholder: str, value: Any) -> str:
    """The text a param value stands for: strings as they are, numbers written out, data as JSON."""
    if value is None:
        raise TemplateError(f"str_replace: the value for '{placeholder}' is null")
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float)):
        return str(value)
    if isinstance(value, (dict, list)):
        return to_json("str_replace", value)
    raise TemplateError(f"str_replace: the value for '{placeholder}' is {type_name(value)}")


def substitute(args: Any, evaluate, render: Callable[[str, Any], str]) -> str:
    """Replace every placeholder in the template with its rendered value."""
    template = evaluate(args["template"], "template")
    if not isinstance(template, str):
        raise TemplateError(f"str_replace: template must be a string, not {type_name(template)}")
    params = evaluate(args["params"], "params")
    if not isinstance(params, dict):
        raise TemplateError(f"str_replace: params must be a map, not {type_name(params)}")
    _check_placeholders(params)
    values = {key: render(key, value) for key, value in params.items()}
    return replace(template, values)


def replace(template: str, values: dict[str, str]) -> str:
    """Substitute longer placeholders first; text already substituted is never scanned again.

    With `$host` and `$host_name` both present, `$host_name` wins wherever it occurs, whatever
    the order of the params, and a value containing a placeholder stays as written.
    """
    pieces: list[tuple[str, bool]] = [(template, True)]  # (text, still template text?)
    for placeholder in sorted(values, key=lambda key: (-len(key), key)):
        split: list[tuple[str, bool]] = []
        for text, is_template in pieces:
            if not is_template or placeholder not in text:
                split.append((text, is_template))
                continue
            for number, part in enumerate(text.split(placeholder)):
                if number:
                    split.append((values[placeholder], False))
                split.append((part, True))
        pieces = split
    return "".join(text for text, _ in pieces)
