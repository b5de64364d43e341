"""Finding intrinsic-function calls in template snippets, and checking them before anything runs;
pure, touches nothing."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

from engine.errors import TemplateError

if TYPE_CHECKING:
    from engine.template.conditions import ConditionalContext

# Template data as parsed from YAML or JSON (or sent as data by a client): maps, lists,
# strings, numbers, booleans, null, and the dates YAML reads, nested to any depth, with a call
# being one more map. It is checked by shape at run time (isinstance, then TemplateError), so
# its static type says nothing: Any, named so that signatures say what the value is.
Snippet: TypeAlias = Any
# One step of a template path: a map key (text in any template Heat accepts) or a list index.
Segment: TypeAlias = str | int
# Where a value stands in a template, from the top: ("resources", "web", "properties", 0).
Path: TypeAlias = tuple[Segment, ...]
# What intrinsic functions resolve against: the engine's context seen through a template.
FunctionContext: TypeAlias = "ConditionalContext"


class Evaluate(Protocol):
    """`evaluate(snippet, *segments)`, as functions are handed it: `snippet` resolved, where
    `segments` say where it sits inside the call's arguments (for error paths)."""

    def __call__(self, snippet: Snippet, /, *segments: Segment) -> Any: ...


def call_in(snippet: Snippet, names: Collection[str]) -> tuple[str, Any] | None:
    """`(name, args)` if `snippet` is a call to one of `names` (a one-key mapping), else None."""
    if isinstance(snippet, dict) and len(snippet) == 1:
        name, args = next(iter(snippet.items()))
        if isinstance(name, str) and name in names:
            return name, args
    return None


def calls(snippet: Snippet, names: Collection[str], path: Path = ()) -> Iterator[tuple[str, Snippet, Path]]:
    """Every call to one of `names` in `snippet`, outer before inner, as `(name, args, path)`.

    `path` is where the call stands; calls nested in its arguments stand under
    `path + (name, ...)`. Iterative, so that a deep snippet cannot exhaust the stack.
    """
    pending: list[tuple[Snippet, Path]] = [(snippet, tuple(path))]
    while pending:
        value, where = pending.pop()
        call = call_in(value, names)
        if call is not None:
            name, args = call
            yield name, args, where
            pending.append((args, where + (name,)))
        elif isinstance(value, dict):
            pending.extend((item, where + (key,)) for key, item in reversed(value.items()))
        elif isinstance(value, list):
            pending.extend((item, where + (index,)) for index, item in reversed(list(enumerate(value))))


def check_calls(
    snippet: Snippet,
    path: Path,
    functions: Mapping[str, ModuleType],
    unavailable: Mapping[str, str],
    exists: Callable[[str, str], bool],
) -> None:
    """Check every call's arguments, and that what it names exists (`exists(kind, name)`)."""
    for name, args, where in calls(snippet, functions.keys() | unavailable.keys(), path):
        if name in unavailable:
            raise TemplateError(unavailable[name], path=where + (name,))
        function = functions[name]
        function.validate(args, where + (name,))
        named = reference_of(function, args)
        if named is not None and not exists(*named):
            raise TemplateError(_UNDEFINED[named[0]].format(function=name, name=named[1]), path=where)


def reference_of(function: ModuleType, args: Snippet) -> tuple[str, str] | None:
    """The `(kind, name)` a validated call depends on, if its function says."""
    reference = getattr(function, "reference", None)
    return reference(args) if reference is not None else None


_UNDEFINED = {
    "resource": "{function} refers to undefined resource '{name}'",
    "parameter": "{function} refers to undefined parameter '{name}'",
    "file": "no content for {function} '{name}' in the files map",
}
