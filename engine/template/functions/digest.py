"""digest (2015-04-30 on): the hex digest of a string with a hashlib algorithm, as Heat computes it.
Pure, touches nothing."""

from __future__ import annotations

import hashlib

from engine.errors import TemplateError
from engine.template.snippets import Evaluate, FunctionContext, Path, Snippet


def algorithms() -> list[str]:
    """The algorithms this Python offers with a fixed-length digest (shake_* need a length)."""
    return sorted(name.lower() for name in hashlib.algorithms_available if not name.lower().startswith("shake"))


def validate(args: Snippet, path: Path) -> None:
    """Heat checks digest's arguments only when it resolves them."""


def resolve(args: Snippet, evaluate: Evaluate, context: FunctionContext) -> str:
    args = evaluate(args)
    if not (isinstance(args, list) and all(isinstance(a, str) for a in args)):
        raise TemplateError('Argument to function "digest" must be a list of strings')
    if len(args) != 2:
        raise TemplateError('Function "digest" usage: ["<algorithm>", "<value>"]')
    algorithm, value = args
    if algorithm.lower() not in algorithms():
        raise TemplateError(f"Algorithm must be one of {set(algorithms())}")
    # Heat hashes the Latin-1 bytes of the text; other text would hash differently there.
    try:
        data = value.encode("latin-1")
    except UnicodeEncodeError:
        raise TemplateError("digest: the value must be Latin-1 text, as Heat hashes it") from None
    return hashlib.new(algorithm.lower(), data).hexdigest()
