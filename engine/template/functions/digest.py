"""digest (2015-04-30 on): the hex digest of a string with a hashlib algorithm, as Heat computes it."""
from __future__ import annotations

import hashlib
from typing import Any

from engine.errors import TemplateError
from engine.template.functions.args import check_list, check_text, type_name

USAGE = "digest: expected [algorithm, value]"


def algorithms() -> list[str]:
    """The algorithms this Python offers with a fixed-length digest (shake_* need a length)."""
    return sorted(name.lower() for name in hashlib.algorithms_available
                  if not name.lower().startswith("shake"))


def _check_algorithm(name: str, path: tuple = ()) -> None:
    if name.lower() not in algorithms():
        raise TemplateError(f"digest: unknown algorithm '{name}' "
                            f"(one of: {', '.join(algorithms())})", path=path)


def validate(args: Any, path: tuple) -> None:
    check_list(args, path, USAGE, least=2, most=2)
    check_text("digest", "the algorithm", args[0], path)
    check_text("digest", "the value", args[1], path)
    if isinstance(args[0], str):
        _check_algorithm(args[0], path)


def resolve(args: Any, evaluate, context) -> str:
    algorithm, value = evaluate(args[0], 0), evaluate(args[1], 1)
    for what, text in (("the algorithm", algorithm), ("the value", value)):
        if not isinstance(text, str):
            raise TemplateError(f"digest: {what} must be a string, not {type_name(text)}")
    _check_algorithm(algorithm)
    # Heat hashes the Latin-1 bytes of the text; other text would hash differently there.
    try:
        data = value.encode("latin-1")
    except UnicodeEncodeError:
        raise TemplateError("digest: the value must be Latin-1 text, as Heat hashes it") from None
    return hashlib.new(algorithm.lower(), data).hexdigest()
