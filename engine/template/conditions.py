"""Template conditions: where calls stand, their checks, the context that answers them by name;
pure, touches nothing (it uses engine.orchestration.graph's pure graph).

Conditions in a template: where calls stand (in a value or in a condition), their checks before
anything runs, and the context that answers conditions by name.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

from engine.errors import DependencyCycle, TemplateError
from engine.orchestration.graph import Graph
from engine.template.functions.args import walk
from engine.template.limits import Budget, Limits
from engine.template.snippets import Path, Segment, Snippet, call_in, reference_of

if TYPE_CHECKING:
    from engine.template.context import ResolveContext
    from engine.template.hot import Template

VALUE, CONDITION = "value", "condition"

# What Heat checks of the names calls refer to before anything runs: the resources named in
# a resource's properties or metadata (as it orders them), and the resource of a get_attr in
# an output. Parameters and files are checked, as in Heat, when the call is resolved.
ATTRIBUTE_FUNCTIONS = ("get_attr", "Fn::GetAtt")


def undefined(kind: str, name: Any, function: str, where: Path) -> TemplateError | None:
    """The error for a call at `where` naming something that does not exist, if Heat checks it."""
    if kind not in ("resource", "ref"):
        return None
    if where[0] in ("resources", "Resources") and len(where) > 2:
        inside = ".".join(str(segment) for segment in where[3:])
        section = {"metadata": "Metadata", "properties": "Properties"}.get(str(where[2]).lower(), str(where[2]))
        key = f"{where[1]}.{section}" + (f".{inside}" if inside else "")
        return TemplateError(
            f'The specified reference "{name}" (in {key}) is incorrect.', path=where, kind="InvalidTemplateReference"
        )
    if function in ATTRIBUTE_FUNCTIONS:
        return TemplateError(f'The specified reference "{name}" (in unknown) is incorrect.', path=where + (function,))
    return None


def invalid_condition(name: Any, path: Path) -> TemplateError:
    return TemplateError(f'Invalid condition "{name}"', path=path)


# The zones Fn::GetAZs answers unless the engine's context names its own: Hearth has one, as
# a default Nova installation does.
AVAILABILITY_ZONES = ("nova",)
# Fn::ResourceFacade asks in CloudFormation's words; the engine answers in HOT's.
_FACADE_KINDS = {"Metadata": "metadata", "DeletionPolicy": "deletion_policy", "UpdatePolicy": "update_policy"}

Exists = Callable[[str, str], bool]
# choose(function, args, path) -> the argument segments to follow, or None for all of them.
Choose = Callable[[ModuleType, Snippet, Path], "list[Path] | None"]


@dataclass(frozen=True)
class Vocabulary:
    """The function names one template version knows: in values, in conditions, and refused."""

    functions: Mapping[str, ModuleType]
    conditions: Mapping[str, ModuleType]
    unavailable: Mapping[str, str]
    if TYPE_CHECKING:  # set in __post_init__; declared for mypy only, not a dataclass field
        _names: Mapping[str, frozenset[str]] = field(init=False)

    def __post_init__(self) -> None:
        in_values = frozenset(self.functions.keys() | self.unavailable.keys())
        # Frozen: the name sets are worked out once, here.
        object.__setattr__(self, "_names", {VALUE: in_values, CONDITION: in_values | self.conditions.keys()})

    def table(self, mode: str) -> Mapping[str, ModuleType]:
        return self.functions if mode == VALUE else self.conditions

    def names(self, mode: str) -> Collection[str]:
        """The names that make a call in `mode` (in a condition, value functions too: refused)."""
        return self._names[mode]

    def condition_names(self) -> str:
        return ", ".join(sorted(self.conditions))


def condition_positions(function: ModuleType, args: Snippet) -> list[Path]:
    """Which parts of a call's arguments are conditions, as segment tuples."""
    positions = getattr(function, "conditions_in", None)
    return list(positions(args)) if positions is not None else []


def part(args: Snippet, segments: Path) -> Any:
    """The part of a call's arguments at `segments`."""
    for segment in segments:
        args = args[segment]
    return args


def calls_in(
    snippet: Snippet, path: Path, mode: str, vocabulary: Vocabulary, choose: Choose | None = None
) -> Iterator[tuple[str, Snippet, Path, str]]:
    """Every call in `snippet`, outer before inner, as `(name, args, path, mode)`.

    Parts of arguments that are conditions (see `condition_positions`) are walked in
    condition mode, and so is everything inside them. With `choose`, a call it answers for is
    followed only into the arguments it names (the chosen value of an `if`). Iterative, so
    that a deep snippet cannot exhaust the stack.
    """
    # Each entry: (value, path, mode, positions of conditions inside value, relative to it).
    pending: list[tuple[Snippet, Path, str, tuple[Path, ...]]] = [(snippet, tuple(path), mode, ())]
    while pending:
        value, where, mode, marks = pending.pop()
        if () in marks:
            mode = CONDITION
        call = call_in(value, vocabulary.names(mode))
        if call is not None:
            name, args = call
            yield name, args, where, mode
            function = vocabulary.table(mode).get(name)
            if function is None:
                continue  # a refused name: the caller stops there
            inside = where + (name,)
            chosen = choose(function, args, inside) if choose is not None else None
            if chosen is not None:
                pending.extend((part(args, segments), inside + segments, mode, ()) for segments in reversed(chosen))
            else:
                pending.append((args, inside, mode, tuple(condition_positions(function, args))))
        elif isinstance(value, dict):
            pending.extend((item, where + (key,), mode, _below(marks, key)) for key, item in reversed(value.items()))
        elif isinstance(value, list):
            pending.extend(
                (item, where + (index,), mode, _below(marks, index)) for index, item in reversed(list(enumerate(value)))
            )


def _below(marks: tuple[Path, ...], key: Segment) -> tuple[Path, ...]:
    return tuple(mark[1:] for mark in marks if mark and mark[0] == key)


def check_snippet(snippet: Snippet, path: Path, mode: str, vocabulary: Vocabulary, exists: Exists) -> list[str]:
    """Check every call's arguments and what it names; return the condition names it refers to."""
    named: list[str] = []
    for name, args, where, call_mode in calls_in(snippet, path, mode, vocabulary):
        if name in vocabulary.unavailable:
            raise TemplateError(vocabulary.unavailable[name], path=where + (name,))
        if call_mode == CONDITION and name not in vocabulary.conditions:
            raise TemplateError(f'The function "{name}" is invalid in this context', path=where + (name,))
        function = vocabulary.table(call_mode)[name]
        function.validate(args, where + (name,))
        reference = reference_of(function, args)
        if reference is not None and not exists(*reference):
            error = undefined(reference[0], reference[1], name, where)
            if error is not None:
                raise error
        for segments in condition_positions(function, args):
            named += _check_position(part(args, segments), where + (name,), vocabulary, exists)
    return named


def _check_position(value: Any, path: Path, vocabulary: Vocabulary, exists: Exists) -> list[str]:
    """A condition as written: a defined name, a boolean, or a call (checked on its own)."""
    if isinstance(value, str):
        if not exists("condition", value):
            raise invalid_condition(value, path)
        return [value]
    # Anything else is checked as Heat checks it: when the condition is evaluated.
    return []


def check_condition(value: Any, path: Path, vocabulary: Vocabulary, exists: Exists) -> list[str]:
    """Check a resource's or output's `condition`; return the condition names it refers to."""
    return _check_position(value, path, vocabulary, exists) + check_snippet(value, path, CONDITION, vocabulary, exists)


def check_definitions(conditions: Mapping[Any, Any], vocabulary: Vocabulary, exists: Exists) -> None:
    """Check the conditions section: each a boolean or a condition function, and no loops."""
    needs: dict[str, list[str]] = {}
    for name, definition in conditions.items():
        path = ("conditions", name)
        # A bare name is refused, as in Heat: {and: [other, true]} reuses another condition.
        if not (isinstance(definition, bool) or call_in(definition, vocabulary.names(CONDITION))):
            raise TemplateError(
                f'The definition of condition "{name}" is invalid: {definition}', heading="Condition validation error"
            )
        needs[name] = check_snippet(definition, path, CONDITION, vocabulary, exists)
    check_no_loop(needs, "conditions")


def check_no_loop(needs: dict[str, list[str]], section: str) -> None:
    """Conditions that name each other must not loop; the error names the loop in `section`."""
    try:
        Graph(needs).check_acyclic()
    except DependencyCycle as cycle:
        raise TemplateError(
            f'Circular definition for condition "{cycle.members[0]}"', heading="Condition validation error"
        ) from None


def _left_out(name: str) -> TemplateError:
    """Reading a resource its condition left out: Heat answers that it does not exist."""
    return TemplateError(f'The specified reference "{name}" (in unknown) is incorrect.')


class ConditionalContext:
    """The engine's context seen through a HOT template: it answers conditions by name, and a
    resource that conditions disabled has no id and no attributes (null), as in Heat.

    A condition not already known (`template.condition_values`) is evaluated once per context
    with `template._evaluate_condition(name, context)`.
    """

    def __init__(self, context: ResolveContext, template: Template) -> None:
        self.inner = context
        self.template = template
        self._known: dict[str, bool] = dict(template.condition_values or {})
        self._evaluating: list[str] = []
        # What functions may build (engine.template.limits): the engine's context says the
        # installation's limits; each resolution gets a budget of its own (`with_budget`).
        self.budget = Budget(self.limits)

    @property
    def limits(self) -> Limits | None:
        return getattr(self.inner, "limits", None)

    def with_budget(self, budget: Budget) -> ConditionalContext:
        """This context, knowing the same conditions, with `budget` for one resolution."""
        fresh = copy.copy(self)
        fresh.budget = budget
        return fresh

    @property
    def files(self) -> Mapping[str, str]:
        return getattr(self.inner, "files", None) or {}

    def get_param(self, name: str) -> Any:
        return self.inner.get_param(name)

    def get_resource(self, name: str) -> Any:
        if name in self.template.disabled_resources:
            raise _left_out(name)
        return self.inner.get_resource(name)

    def get_attr(self, resource: str, attribute: str | None) -> Any:
        if resource in self.template.disabled_resources:
            raise _left_out(resource)
        return self.inner.get_attr(resource, attribute)

    def get_attr_at(self, resource: str, attribute: str, path: list[Snippet]) -> Any:
        if resource in self.template.disabled_resources:
            raise _left_out(resource)
        at = getattr(self.inner, "get_attr_at", None)
        if at is not None:
            return at(resource, attribute, path)
        return walk(self.inner.get_attr(resource, attribute), path)

    def is_resource(self, name: str) -> bool:
        """Whether `name` is a resource of the template: Ref looks there before the parameters."""
        return self.template.is_resource(name)

    def availability_zones(self) -> list[str]:
        """The engine context's zones when it offers `availability_zones()`, else "nova" alone."""
        zones = getattr(self.inner, "availability_zones", None)
        return list(zones() if zones is not None else AVAILABILITY_ZONES)

    def resource_facade(self, kind: str) -> Any:
        facade = getattr(self.inner, "resource_facade", None)
        if facade is None:
            raise TemplateError(
                "resource_facade: there is no parent resource to read from here "
                "(only a nested stack's template has one)"
            )
        return facade(_FACADE_KINDS.get(kind, kind))

    def condition(self, value: Any) -> bool:
        """Whether a condition holds: a boolean is itself, a string names a condition."""
        if isinstance(value, bool):
            return value
        if not isinstance(value, str) or value not in self.template.conditions:
            raise TemplateError(f'Invalid condition "{value}"')
        if value not in self._known:
            if value in self._evaluating:
                raise self.template.error(
                    f'Circular definition for condition "{value}"', (), heading="Condition validation error"
                )
            self._evaluating.append(value)
            try:
                self._known[value] = self.template._evaluate_condition(value, self)
            finally:
                self._evaluating.pop()
        return self._known[value]
