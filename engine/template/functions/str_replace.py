"""str_replace (2015-10-15 on): substitute params into a template string; maps and lists are
rendered as JSON. Pure, touches nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from engine.errors import TemplateError
from engine.template.functions.args import to_json
from engine.template.limits import Budget, budget_of
from engine.template.snippets import Evaluate, FunctionContext, Path, Snippet

# Heat raises a KeyError with this text, and prints the KeyError: quoted, newlines escaped.
_SYNTAX = """%s:
              template: This is var1 template var2
              params:
                var1: a
                var2: string"""


def check_arguments(args: Snippet, path: Path, function: str = "str_replace") -> None:
    """Check the `{template, params}` shape shared by every version of str_replace (other keys
    are ignored, as in Heat); what they hold is checked once resolved."""
    if not isinstance(args, dict):
        raise TemplateError(f'Arguments to "{function}" must be a map', path=path)
    if "template" not in args or "params" not in args:
        syntax = f'"{function}" syntax should be {_SYNTAX % function}'
        raise TemplateError(repr(syntax), path=path)
    if not isinstance(args["params"], dict):
        raise TemplateError(f'"{function}" parameters must be a mapping', path=path)


def _check_placeholders(function: str, params: dict[Any, Snippet], path: Path = ()) -> None:
    for key in params:
        if not isinstance(key, str):
            raise TemplateError(f'"{function}" param placeholders must be strings', path=path)


def validate(args: Snippet, path: Path) -> None:
    check_arguments(args, path)


def resolve(args: Snippet, evaluate: Evaluate, context: FunctionContext) -> str:
    return substitute(args, evaluate, as_text, context=context)


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
    raise TemplateError(f'"{function}" params must be strings, numbers, list or map.')


def substitute(
    args: Snippet,
    evaluate: Evaluate,
    render: Callable[[str, Any], str],
    *,
    context: FunctionContext | None = None,
    function: str = "str_replace",
    strict: bool = False,
) -> str:
    """Replace every placeholder in the template with its rendered value.

    With `strict`, every placeholder must occur in the template text.
    """
    template = evaluate(args["template"], "template")
    params = evaluate(args["params"], "params")
    if not isinstance(template, str):
        raise TemplateError(f'"{function}" template must be a string')
    if not isinstance(params, dict):
        raise TemplateError(f'"{function}" params must be a map')
    _check_placeholders(function, params)
    budget = budget_of(context)
    for value in params.values():
        if isinstance(value, (dict, list)):
            # Measured before it is rendered as JSON: it may share parts that the text repeats.
            budget.size_of(value, function, "a param's value as JSON")
    values = {key: render(key, value) for key, value in params.items()}
    text, found = replaced(template, values, budget, function)
    missing = [key for key in _longest_first(values) if key not in found]
    if strict and missing:
        raise TemplateError(f"The following params were not found in the template: {','.join(missing)}")
    return text


def replace(template: str, values: dict[str, str], budget: Budget | None = None, function: str = "str_replace") -> str:
    """Substitute longer placeholders first; text already substituted is never scanned again."""
    return replaced(template, values, budget, function)[0]


def replaced(
    template: str, values: dict[str, str], budget: Budget | None = None, function: str = "str_replace"
) -> tuple[str, set[str]]:
    """The substituted text, and the placeholders that occurred in the template text.

    With `$host` and `$host_name` both present, `$host_name` wins wherever it occurs, whatever
    the order of the params, and a value containing a placeholder stays as written.

    The text is put together only once its length is known: a value repeated at every
    occurrence of its placeholder can make it far longer than the template and the params.
    Each piece of text looked at for a placeholder is one item of work.
    """
    budget = budget or Budget()
    pieces: list[tuple[str, bool]] = [(template, True)]  # (text, still template text?)
    found: set[str] = set()
    for placeholder in _longest_first(values):
        budget.spend(len(pieces), function, "the pieces of text to look through for its params")
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
    budget.check_size(sum(len(text) for text, _ in pieces) + 2, f"{function}: the text")
    return "".join(text for text, _ in pieces), found


def _longest_first(placeholders: Iterable[str]) -> list[str]:
    # Heat's order: longer placeholders first, then alphabetical among equally long ones.
    return sorted(placeholders, key=lambda key: (-len(key), key))
