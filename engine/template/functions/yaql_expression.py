"""yaql: evaluate a YAQL expression with Heat's limits. No I/O; keeps yaql's engine and parses in
process memory, and sets sys.settrace to count steps while it runs.

yaql (2016-10-14 on, in conditions from 2017-09-01): evaluate a YAQL expression on data, with Heat's
limits.
"""

from __future__ import annotations

import functools
import importlib
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from engine.errors import LimitExceeded, TemplateError
from engine.template.functions.args import is_call
from engine.template.limits import Budget, budget_of
from engine.template.snippets import Evaluate, FunctionContext, Path, Snippet

# Heat raises a KeyError with this text, and prints the KeyError: quoted, newlines escaped.
USAGE = repr(""""yaql" syntax should be yaql:
              expression: $.data.var1.sum()
              data:
                var1: [3, 2, 1]""")
# Heat's defaults for [yaql] limit_iterators and memory_quota: how many items an expression
# may iterate over, and how many bytes the collections it builds may hold.
LIMIT_ITERATORS = 200
MEMORY_QUOTA = 10000

_lock = threading.Lock()
_engine: dict[str, Any] = {}


def _yaql() -> dict[str, Any]:
    """yaql's parser with Heat's limits and a root context: built once, on first use."""
    with _lock:
        if not _engine:
            # yaql (3.2 included) reads collections.abc without importing it.
            importlib.import_module("collections.abc")
            import yaql
            from yaql.language import exceptions

            context = yaql.create_context()
            _count_sources(context)
            _engine.update(
                parse=yaql.YaqlFactory().create(
                    {"yaql.limitIterators": LIMIT_ITERATORS, "yaql.memoryQuota": MEMORY_QUOTA}
                ),
                context=context,
                error=exceptions.YaqlException,
            )
        return _engine


# yaql's functions that make items without end, or as many as asked, without building them
# (so its memory quota never sees them): what they yield is drawn through Python, where the
# steps of an evaluation are counted.
_SOURCES = ("range", "sequence", "repeat", "cycle", "generate", "generate_many")


def _count_sources(context: Any) -> None:
    while context is not None:
        for name in _SOURCES:
            for spec in getattr(context, "_functions", {}).get(name, ()):
                spec.payload = _drawn_through_python(spec.payload)
        context = context.parent


def _drawn_through_python(function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def source(*args: Snippet, **kwargs: Any) -> Any:
        result = function(*args, **kwargs)
        if isinstance(result, (str, bytes, dict)) or not hasattr(result, "__iter__"):
            return result
        return (item for item in result)

    return source


# A trace function, as sys.settrace takes it (what it returns traces the frame's lines).
_Tracer = Callable[[FrameType, str, Any], Any]


class _Stopped(BaseException):
    """Raised into yaql's frames when an evaluation has used its budget. A BaseException, so
    that no `except Exception` in yaql can swallow it (a raising trace function is removed)."""


class _Steps:
    """Counts the Python lines an evaluation runs, each one item of work (engine.template.limits):
    yaql has no bound on the time an expression takes, and its loops run in Python."""

    CHUNK = 100

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.count = 0
        self.error: LimitExceeded | None = None

    def trace(self, frame: FrameType, event: str, arg: Any) -> _Tracer:
        return self.line

    def line(self, frame: FrameType, event: str, arg: Any) -> _Tracer:
        if event == "line":
            self.count += 1
            if self.count >= self.CHUNK:
                self.count = 0
                try:
                    self.budget.spend(self.CHUNK, "yaql", "the steps its expression runs")
                except LimitExceeded as error:
                    self.error = error
                    raise _Stopped() from None
        return self.line


def _evaluate(statement: Any, data: Snippet, engine: dict[str, Any], budget: Budget) -> Any:
    steps = _Steps(budget)
    previous = sys.gettrace()
    sys.settrace(steps.trace)
    try:
        return statement.evaluate({"data": data}, engine["context"].create_child_context())
    except _Stopped:
        # line() sets the error before it raises _Stopped, so it is never None here.
        raise steps.error from None  # type: ignore[misc]
    finally:
        sys.settrace(previous)


@functools.lru_cache(maxsize=256)
def _parsed(expression: str) -> Any:
    engine = _yaql()
    try:
        # The parser keeps state while it works: one expression at a time.
        with _lock:
            return engine["parse"](expression)
    except engine["error"] as error:
        raise TemplateError(f"Bad expression {error}.") from None


def validate(args: Snippet, path: Path) -> None:
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


def resolve(args: Snippet, evaluate: Evaluate, context: FunctionContext) -> Any:
    expression = evaluate(args["expression"], "expression")
    if not isinstance(expression, str):
        raise TemplateError('The "expression" argument to yaql must contain a string.')
    statement = _parsed(expression)
    data = evaluate(args.get("data", {}), "data")
    engine = _yaql()
    try:
        result = _evaluate(statement, data, engine, budget_of(context))
    except engine["error"] as error:
        raise TemplateError(f"yaql: {error}") from None
    except (ArithmeticError, LookupError, TypeError, ValueError, AttributeError) as error:
        raise TemplateError(f"yaql: evaluating the expression failed: {type(error).__name__} {error}") from None
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
