"""yaql (2016-10-14 on, in conditions from 2017-09-01): evaluate a YAQL expression on data, with Heat's limits."""
from __future__ import annotations

import functools
import importlib
import threading
from typing import Any

from engine.errors import TemplateError
from engine.template.functions.args import is_call, type_name

# Heat raises a KeyError with this text, and prints the KeyError: quoted, newlines escaped.
USAGE = repr('''"yaql" syntax should be yaql:
              expression: $.data.var1.sum()
              data:
                var1: [3, 2, 1]''')
# Heat's defaults for [yaql] limit_iterators and memory_quota: how many items an expression
# may iterate over, and how many bytes the collections it builds may hold.
LIMIT_ITERATORS = 200
MEMORY_QUOTA = 10000

_lock = threading.Lock()
_engine: dict[str, Any] = {}


def _yaql():
    """yaql's parser with Heat's limits and a root context: built once, on first use."""
    with _lock:
        if not _engine:
            # yaql (3.2 included) reads collections.abc without importing it.
            importlib.import_module("collections.abc")
            import yaql
            from yaql.language import exceptions
            _engine.update(
                parse=yaql.YaqlFactory().create({"yaql.limitIterators": LIMIT_ITERATORS,
                                                 "yaql.memoryQuota": MEMORY_QUOTA}),
                context=yaql.create_context(), error=exceptions.YaqlException)
        return _engine


@functools.lru_cache(maxsize=256)
def _parsed(expression: str):
    engine = _yaql()
    try:
        # The parser keeps state while it works: one expression at a time.
        with _lock:
            return engine["parse"](expression)
    except engine["error"] as error:
        raise TemplateError(f"Bad expression {error}.") from None


def validate(args: Any, path: tuple) -> None:
    if not isinstance(args, dict):
        raise TemplateError('Arguments to "yaql" must be a map.', path=path)
    if "expression" not in args or set(args) - {"expression", "data"}:
        raise TemplateError(USAGE, path=path)
    expression = args["expression"]
    if not (isinstance(expression, str) or is_call(expression)):
        raise TemplateError('The "expression" argument to yaql must contain a string.', path=path)
    if isinstance(expression, str):
        try:
            _parsed(expression)
        except TemplateError as error:
            raise error.located(path=path) from None


def resolve(args: Any, evaluate, context) -> Any:
    expression = evaluate(args["expression"], "expression")
    if not isinstance(expression, str):
        raise TemplateError('The "expression" argument to yaql must contain a string.')
    statement = _parsed(expression)
    data = evaluate(args.get("data", {}), "data")
    engine = _yaql()
    try:
        result = statement.evaluate({"data": data}, engine["context"].create_child_context())
    except engine["error"] as error:
        raise TemplateError(f"yaql: {error}") from None
    except (ArithmeticError, LookupError, TypeError, ValueError, AttributeError) as error:
        raise TemplateError("yaql: evaluating the expression failed: "
                            f"{type(error).__name__} {error}") from None
    return _plain(result)


def _plain(value: Any) -> Any:
    """A result as template data: sets become lists, in order when their items can be ordered."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, (set, frozenset)):
        items = [_plain(item) for item in value]
        try:
            return sorted(items)
        except TypeError:
            return items
    return value
