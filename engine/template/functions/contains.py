"""contains (2017-09-01 on, also in conditions): whether a value is an item of a list, or a
substring of a string. Pure, touches nothing."""

from __future__ import annotations

from engine.errors import TemplateError
from engine.template.limits import budget_of
from engine.template.snippets import Evaluate, FunctionContext, Path, Snippet

USAGE = 'Incorrect arguments to "contains" should be: "contains" : [ "value1", [ "value1", "value2"]]'


def validate(args: Snippet, path: Path) -> None:
    if not args or not isinstance(args, list):
        raise TemplateError(USAGE, path=path)
    if len(args) != 2:
        raise TemplateError('Arguments to "contains" must be of the form: [value1, [value1, value2]]', path=path)


def resolve(args: Snippet, evaluate: Evaluate, context: FunctionContext) -> bool:
    value, sequence = evaluate(args[0], 0), evaluate(args[1], 1)
    if not isinstance(sequence, (list, str)):
        raise TemplateError('Second argument to "contains" should be a sequence.')
    if isinstance(sequence, str) and not isinstance(value, str):
        raise TemplateError(f"'in <string>' requires string as left operand, not {type(value).__name__}")
    if isinstance(sequence, list):
        budget_of(context).spend(len(sequence), "contains", "the items to look through")
    return value in sequence
