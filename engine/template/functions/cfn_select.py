"""Fn::Select: an item of a list by index or of a map by key; an empty string when there is none, as
in Heat. Pure, touches nothing."""

from __future__ import annotations

import json
import re
from typing import Any

from engine.errors import TemplateError
from engine.template.functions.args import is_call, type_name
from engine.template.snippets import Evaluate, FunctionContext, Path, Snippet

USAGE = 'Arguments to "Fn::Select" must be of the form [index, collection]'
_INTEGER = re.compile(r"\s*-?[0-9]+\s*")


def validate(args: Snippet, path: Path) -> None:
    if not isinstance(args, list) or len(args) != 2:
        raise TemplateError(USAGE, path=path)
    index = args[0]
    if isinstance(index, bool) or (not isinstance(index, (str, int)) and not is_call(index)):
        raise TemplateError("Fn::Select: the index must be an integer or a key", path=path)


def resolve(args: Snippet, evaluate: Evaluate, context: FunctionContext) -> Any:
    index = evaluate(args[0], 0)
    collection = evaluate(args[1], 1)
    # Functions answer null or '' for what is not available yet; selecting from it is '' too.
    if collection is None or collection == "":
        return ""
    if isinstance(collection, str):
        try:
            collection = json.loads(collection)
        except ValueError as error:
            raise TemplateError(f"Fn::Select: the text to select from is not JSON: {error}") from None
    if isinstance(collection, dict):
        if not isinstance(index, str):
            raise TemplateError(f"Fn::Select: the key into a map must be a string, not {type_name(index)}")
        return collection.get(index, "")
    if isinstance(collection, list):
        if isinstance(index, str) and _INTEGER.fullmatch(index):
            index = int(index)
        if isinstance(index, bool) or not isinstance(index, int):
            raise TemplateError(f"Fn::Select: the index into a list must be an integer, not {index!r}")
        # Heat indexes as Python does: -1 is the last item; past either end is ''.
        try:
            return collection[index]
        except IndexError:
            return ""
    raise TemplateError(f"Fn::Select: expected a list or a map to select from, not {type_name(collection)}")
