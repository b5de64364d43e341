"""get_attr before 2015-10-15: as get_attr, but the attribute name is required. Pure, touches
nothing."""

from __future__ import annotations

from engine.template.functions import get_attr
from engine.template.snippets import Path, Snippet


def validate(args: Snippet, path: Path) -> None:
    get_attr.check_arguments(args, path, minimum=2)


reference = get_attr.reference
resolve = get_attr.resolve
