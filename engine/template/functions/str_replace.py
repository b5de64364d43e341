"""str_replace (2015-10-15 on): substitute params into a template string; maps and lists are rendered as JSON."""
from __future__ import annotations

from typing import Any, Callable

from engine.errors import TemplateError
from engine.template.functions.args import is_call, to_json, type_name

USAGE = "{function}: expected {{template: <string>, params: {{<placeholder>: <value>, ...}}}}"


def check_arguments(args: Any, path: tuple, function: str = "str_replace") -> None:
    """Check the `{template, params}` shape shared by every version of str_replace."""
    if not isinstance(args, dict) or set(args) != {"template", "params"}:
        raise TemplateError(USAGE.format(function=function), path=path)
    template, params = args["template"], args["params"]
    if not (isinstance(template, str) or is_call(template)):
        raise TemplateError(f"{function}: template must be a string", path=path)
    if not isinstance(params, dict):
        raise TemplateError(f"{function}: params must be a map", path=path)
    # A call ({get_param: values}) passes too: its one key is a non-empty string.
    _check_placeholders(function, params, path)


def _check_placeholders(function: str, params: dict, path: tuple = ()) -> None:
    for key in params:
        if not isinstance(key, str) or not key:
            raise TemplateError(f"{function}: placeholder {key!r} must be a non-empty string",
                                path=path)


def validate(args: Any, path: tuple) -> None:
    check_arguments(args, path)


def resolve(args: Any, evaluate, context) -> str:
    return substitute(args, evaluate, as_text)


def as_text(placeholder: str, value: Any, function: str = "str_replace") -> str:
    """The text a param value stands for: strings as they are, numbers written out, data as JSON.

    Null stands for the empty string, as in Heat: an attribute that is not available yet.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float)):
        return str(value)
    if isinstance(value, (dict, list)):
        return to_json(function, value)
    raise TemplateError(f"{function}: the value for '{placeholder}' is {type_name(value)}")


def substitute(args: Any, evaluate, render: Callable[[str, Any], str], *,
               function: str = "str_replace", strict: bool = False) -> str:
    """Replace every placeholder in the template with its rendered value.

    With `strict`, every placeholder must occur in the template text.
    """
    template = evaluate(args["template"], "template")
    if not isinstance(template, str):
        raise TemplateError(f"{function}: template must be a string, not {type_name(template)}")
    params = evaluate(args["params"], "params")
    if not isinstance(params, dict):
        raise TemplateError(f"{function}: params must be a map, not {type_name(params)}")
    _check_placeholders(function, params)
    values = {key: render(key, value) for key, value in params.items()}
    text, found = replaced(template, values)
    missing = [key for key in _longest_first(values) if key not in found]
    if strict and missing:
        raise TemplateError(f"{function}: params not found in the template: "
                            f"{', '.join(missing)}")
    return text


def replace(template: str, values: dict[str, str]) -> str:
    """Substitute longer placeholders first; text already substituted is never scanned again."""
    return replaced(template, values)[0]


def replaced(template: str, values: dict[str, str]) -> tuple[str, set[str]]:
    """The substituted text, and the placeholders that occurred in the template text.

    With `$host` and `$host_name` both present, `$host_name` wins wherever it occurs, whatever
    the order of the params, and a value containing a placeholder stays as written.
    """
    pieces: list[tuple[str, bool]] = [(template, True)]  # (text, still template text?)
    found: set[str] = set()
    for placeholder in _longest_first(values):
        split: list[tuple[str, bool]] = []
        for text, is_template in pieces:
            if not is_template or placeholder not in text:
                split.append((text, is_template))
                continue
            found.add(placeholder)
            for number, part in enumerate(text.split(placeholder)):
                if number:
                    split.append((values[placeholder], False))
                split.append((part, True))
        pieces = split
    return "".join(text for text, _ in pieces), found


def _longest_first(placeholders) -> list[str]:
    # Heat's order: longer placeholders first, then alphabetical among equally long ones.
    return sorted(placeholders, key=lambda key: (-len(key), key))
