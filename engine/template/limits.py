"""Bounded evaluation: what resolving one snippet may build, checked before the memory is spent;
pure (defaults come from engine.config's declared settings, not the environment).

A `Budget` is made for each resolution (`Template.resolve`: a resource's properties, its
metadata, an output) from the installation's `Limits`, and reaches the intrinsic functions as
`context.budget`. Functions whose result can outgrow their arguments ask it first:

- `spend(amount, function, what)`: `amount` more items to build or visit (repeat's
  combinations, items concatenated, joined, split, merged or filtered, text pieces
  substituted). Over `max_function_work` for the whole resolution, it raises LimitExceeded.
- `check_size(size, subject)`: a result of `size` bytes (as JSON) is about to be built; over
  `max_resolved_value_size` it raises LimitExceeded.
- `size_of(value, function)`: the size of a value as JSON, counted without building the text
  and without walking past the limit (values may share parts, which JSON would repeat); the
  nodes it visits are work too, so measuring never costs more than the budget.

Errors carry no path: the template locates them at the call that raised them. A limit of -1
is no limit, as Heat's max_resources_per_stack is.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from engine.errors import LimitExceeded

UNLIMITED = -1


@dataclass(frozen=True)
class Limits:
    """The limits evaluation obeys; the defaults are the settings' (engine/config.py)."""

    max_resolved_value_size: int
    max_function_work: int

    @classmethod
    def from_config(cls, config: Any) -> Limits:
        return cls(max_resolved_value_size=config.max_resolved_value_size, max_function_work=config.max_function_work)


@functools.lru_cache(maxsize=1)
def default_limits() -> Limits:
    """The settings' defaults, for evaluation without an installation (tests, tools)."""
    from engine.config import Config

    return Limits.from_config(Config())


def exceeds(amount: int, limit: int) -> bool:
    return limit != UNLIMITED and amount > limit


class Budget:
    """What one resolution may still do. Not shared between threads: one per resolution."""

    def __init__(self, limits: Limits | None = None):
        self.limits = limits or default_limits()
        self.work = 0

    def spend(self, amount: int, function: str, what: str) -> None:
        """Count `amount` items of work for `function` (`what` says what they are)."""
        self.work += amount
        limit = self.limits.max_function_work
        if exceeds(self.work, limit):
            raise LimitExceeded(
                f"{function}: {what} ({amount}) would take this evaluation past max_function_work ({limit} items)",
                setting="max_function_work",
            )

    def check_size(self, size: int, subject: str) -> None:
        """Refuse a result of `size` bytes (as JSON) before it is built; `subject` names it."""
        limit = self.limits.max_resolved_value_size
        if exceeds(size, limit):
            raise LimitExceeded(
                f"{subject} would be {size} bytes or more, larger than max_resolved_value_size ({limit} bytes) allows",
                setting="max_resolved_value_size",
            )

    def size_of(self, value: Any, function: str, what: str = "its result", *, charge: bool = True) -> int:
        """The size of `value` as JSON text, in bytes (characters; escapes not counted).

        Strings cost nothing to measure; each list item and map entry visited is one item of
        work, unless the caller paid for them already (`charge=False`). Stops with
        LimitExceeded as soon as the size passes max_resolved_value_size.
        """
        return self._measure(value, f"{function}: {what}" if function else what, charge)

    def _measure(self, value: Any, subject: str, charge: bool) -> int:
        limit = self.limits.max_resolved_value_size
        total = 0
        stack = [value]
        while stack:
            item = stack.pop()
            if isinstance(item, str):
                total += len(item) + 2
            elif isinstance(item, dict):
                total += 1 + 2 * len(item)  # braces, colons and commas
                if charge:
                    self.spend(len(item), subject, "map entries to measure")
                for key, entry in item.items():
                    total += len(key) + 2 if isinstance(key, str) else scalar_size(key)
                    stack.append(entry)
            elif isinstance(item, list):
                total += 1 + len(item)  # brackets and commas
                if not exceeds(total, limit):
                    if charge:
                        self.spend(len(item), subject, "list items to measure")
                    stack.extend(item)
            else:
                total += scalar_size(item)
            if exceeds(total, limit):
                raise LimitExceeded(
                    f"{subject} is larger than max_resolved_value_size ({limit} bytes) allows",
                    setting="max_resolved_value_size",
                )
        return total


def scalar_size(value: Any) -> int:
    """The length of a scalar as JSON, without converting a long integer to text."""
    if value is None or value is True:
        return 4
    if value is False:
        return 5
    if isinstance(value, int):
        # Digits from the bit length: str() of a huge integer is slow (and refused past 4300 digits).
        return value.bit_length() * 30103 // 100000 + 2
    if isinstance(value, float):
        return 24
    return len(str(value))


def budget_of(context: Any) -> Budget:
    """The resolution's budget a function was handed, or a fresh one with the defaults."""
    budget = getattr(context, "budget", None)
    return budget if budget is not None else Budget()
