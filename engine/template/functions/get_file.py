"""get_file: the content the client sent in the files map for a file name. Pure: asks only the
context it is given."""

from __future__ import annotations

from typing import Any

from engine.errors import TemplateError
from engine.template.snippets import Evaluate, FunctionContext, Path, Snippet


def validate(args: Snippet, path: Path) -> None:
    """Heat checks get_file's argument when it reads the file."""


def reference(args: Snippet) -> tuple[str, str] | None:
    """The file this call reads when it is named literally, for the files-map check."""
    return ("file", args) if isinstance(args, str) else None


def resolve(args: Snippet, evaluate: Evaluate, context: FunctionContext) -> Any:
    name = evaluate(args)
    if not isinstance(name, str):
        raise TemplateError('Argument to "get_file" must be a string')
    content = (context.files or {}).get(name)
    if content is None:
        raise TemplateError(f'No content found in the "files" section for get_file path: {name}')
    return content
