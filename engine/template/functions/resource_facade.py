"""resource_facade: in a provider template, the metadata, deletion_policy or update_policy of the resource that stands for it."""
from __future__ import annotations

from typing import Any

from engine.errors import TemplateError

KINDS = ("metadata", "deletion_policy", "update_policy")


def validate(args: Any, path: tuple) -> None:
    # Heat takes the kind literally: a call here is refused there too.
    if args not in KINDS:
        raise TemplateError('Incorrect arguments to "resource_facade" should be one of: '
                            f"{', '.join(KINDS)}", path=path)


def resolve(args: Any, evaluate, context) -> Any:
    return context.resource_facade(args)
