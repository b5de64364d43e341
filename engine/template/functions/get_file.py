"""get_file: the content the client sent in the files map for a file name."""
from __future__ import annotations

from typing import Any

from engine.errors import TemplateError
from engine.template.functions.args import is_call, type_name


def validate(args: Any, path: tuple) -> None:
    if not (isinstance(args, str) and args or is_call(args)):
        raise TemplateError("get_file: expected a file name", path=path)


def reference(args: Any) -> tuple[str, str] | None:
    """The file this call reads when it is named literally, for the files-map check."""
    return ("file", args) if isinstance(args, str) else None


def resolve(args: Any, evaluate, context) -> Any:
    name = evaluate(args)
    if not isinstance(name, str):
        raise TemplateError(f"get_file: the file name must be a string, not {type_name(name)}")
    content = (context.files or {}).get(name)
    if content is None:
        raise TemplateError(f"no content for get_file '{name}' in the files map")
    return content
