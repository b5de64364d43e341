"""Fn::Join: the strings of a list joined with a delimiter; null items join as empty text."""
from __future__ import annotations

from typing import Any

from engine.errors import TemplateError
from engine.template.functions.args import is_call, type_name

USAGE = "Fn::Join: expected [delimiter, [string, ...]]"


def validate(args: Any, path: tuple) -> None:
    if not isinstance(args, list) or len(args) != 2:
        raise TemplateError(USAGE, path=path)
    if not (isinstance(args[0], str) or is_call(args[0])):
        raise TemplateError("Fn::Join: the delimiter must be a string", path=path)
    if not (isinstance(args[1], list) or is_call(args[1])):
        raise TemplateError("Fn::Join: the second argument must be a list", path=path)


def resolve(args: Any, evaluate, context) -> str:
    delimiter = evaluate(args[0], 0)
    if not isinstance(delimiter, str):
        raise TemplateError(f"Fn::Join: the delimiter must be a string, not {type_name(delimiter)}")
    items = evaluate(args[1], 1)
    # A list that is not available yet (a null attribute) joins as nothing, as in Heat.
    if items is None:
        items = []
    if not isinstance(items, list):
        raise TemplateError(f"Fn::Join: the second argument must be a list, not {type_name(items)}")
    texts = []
    for number, item in enumerate(items):
        if item is None:
            item = ""
        if not isinstance(item, str):
            raise TemplateError(f"Fn::Join: items must be strings, but item {number} is "
                                f"{type_name(item)}")
        texts.append(item)
    return delimiter.join(texts)
