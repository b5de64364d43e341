"""resource_facade: in a provider template, the metadata, deletion_policy or update_policy of the
resource that stands for it. Pure: asks only the context it is given."""

from __future__ import annotations

from typing import Any

from engine.errors import TemplateError
from engine.template.snippets import Evaluate, FunctionContext, Path, Snippet

KINDS = ("metadata", "deletion_policy", "update_policy")


def validate(args: Snippet, path: Path) -> None:
    # Heat takes the kind literally: a call here is refused there too.
    if args not in KINDS:
        raise TemplateError(f'Incorrect arguments to "resource_facade" should be one of: {", ".join(KINDS)}', path=path)


def resolve(args: Snippet, evaluate: Evaluate, context: FunctionContext) -> Any:
    return context.resource_facade(args)
