"""What a stack may be (template size, resources, nesting depth): pure checks, but for the stored
tree read (and its root Stack row locked) through the session its caller passes.

What a stack may be (docs/operations.md, Limits): how large a template a request sends, how many
resources a stack has with its nested stacks, how deep stacks nest. Checked at the request, as Heat
checks them, and again whenever a nested stack is made or updated.

Heat's words are kept where Heat refuses the same thing (RequestLimitExceeded: "Maximum resources
per stack exceeded.", "Recursion depth exceeds 5.", "Template size (N bytes) exceeds maximum
allowed size (M bytes)."); an API answer adds the setting that sets the limit.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import func, select

from engine.errors import HearthError, LimitExceeded, TemplateError
from engine.store.models import Resource, Stack
from engine.template import merge_environments, parse_environment, parse_template
from engine.template.limits import exceeds

RESOURCES_EXCEEDED = "Maximum resources per stack exceeded."  # Heat's StackResourceLimitExceeded
# Where Heat's validation names a group's nested stack, whose template it makes itself.
GROUP_TEMPLATE = "nested_stack"


def template_size(source: Any) -> int:
    """A template's size as Heat measures it: the text's length, or that of a map's str()."""
    return len(source) if isinstance(source, str) else len(str(source))


def check_template_size(config, source: Any, **where) -> None:
    """Refuse a template a request sends that is larger than max_template_size."""
    limit = config.max_template_size
    size = template_size(source)
    if exceeds(size, limit):
        raise LimitExceeded(
            f"Template size ({size} bytes) exceeds maximum allowed size ({limit} bytes).",
            setting="max_template_size",
            detail=f"setting max_template_size = {limit}",
            **where,
        )


def resources_exceeded(config, count: int, **where) -> LimitExceeded | None:
    """Heat's refusal of a stack of `count` resources, when max_resources_per_stack is passed."""
    limit = config.max_resources_per_stack
    if not exceeds(count, limit):
        return None
    return LimitExceeded(
        RESOURCES_EXCEEDED,
        setting="max_resources_per_stack",
        detail=f"{count} resources; setting max_resources_per_stack = {limit}",
        **where,
    )


def depth_exceeded(config, **where) -> LimitExceeded:
    limit = config.max_nested_stack_depth
    return LimitExceeded(
        f"Recursion depth exceeds {limit}.",
        setting="max_nested_stack_depth",
        detail=f"setting max_nested_stack_depth = {limit}",
        **where,
    )


# The stored tree -------------------------------------------------------------------------


def owners_of(session, stack_id: str) -> list[str]:
    """The stacks `stack_id` is nested in, its owner first and the top-level stack last (empty
    for a top-level stack): its depth is their number, its tree's root the last of them."""
    chain, seen = [], {stack_id}
    owner = session.scalar(select(Stack.owner_id).where(Stack.id == stack_id))
    while owner and owner not in seen:
        seen.add(owner)
        chain.append(owner)
        owner = session.scalar(select(Stack.owner_id).where(Stack.id == owner))
    return chain


def tree_resources(session, root_id: str) -> int:
    """The resources of the live stack tree below top-level stack `root_id` (Heat's
    total_resources of its root stack)."""
    ids, frontier = set(), [root_id]
    while frontier:
        ids.update(frontier)
        frontier = [
            i
            for i in session.scalars(select(Stack.id).where(Stack.owner_id.in_(frontier), Stack.deleted_at.is_(None)))
            if i not in ids
        ]
    return session.scalar(select(func.count(Resource.id)).where(Resource.stack_id.in_(ids))) or 0


def check_nested_stack(config, session, parent_id: str, count: int, child_id: str | None = None) -> None:
    """Before a nested stack of `count` resources is made in `parent_id`'s tree (or nested stack
    `child_id` updated to `count`): the depth check, and Heat's check of the resources: a nested
    stack, like any stack, has at most max_resources_per_stack of its own (Heat's engine checks
    each stack it creates so, which is what a running Heat enforces: a group of 1,000 members
    below other resources is created). The whole tree, as stored, less what the nested stack
    already has, is held to max_resources_per_tree, a limit of Hearth's own (Heat has none: a
    group of 1,000 groups of 1,000 would be a million resources)."""
    limit = config.max_nested_stack_depth
    owners = owners_of(session, parent_id)
    root = owners[-1] if owners else parent_id
    # Nested stacks of one tree made at once (a group's members) are counted one after the
    # other: the root stays locked until the caller's transaction ends (PostgreSQL; on SQLite
    # the service makes nested stacks one at a time).
    session.execute(select(Stack.id).where(Stack.id == root).with_for_update())
    if exceeds(len(owners) + 1, limit):
        raise depth_exceeded(config)
    error = resources_exceeded(config, count)
    if error is not None:
        raise error
    tree_limit = config.max_resources_per_tree
    if tree_limit < 0:
        return
    total = count + tree_resources(session, root)
    if child_id is not None:
        total -= session.scalar(select(func.count(Resource.id)).where(Resource.stack_id == child_id)) or 0
    if exceeds(total, tree_limit):
        raise LimitExceeded(
            RESOURCES_EXCEEDED,
            setting="max_resources_per_tree",
            detail=f"{total} resources in the stack and its nested stacks; "
            f"setting max_resources_per_tree = {tree_limit}",
        )


# Before a top-level stack is made --------------------------------------------------------


def nested_levels(config, types, base_environment, definition, name: str) -> list[tuple[str, Any]]:
    """The nested stack a resource of `definition` makes, when its template is known before it is
    made: a provider template's, or a ResourceGroup's with one member (as Heat validates a group),
    as (segment, child definition) pairs. `base_environment` (the global one) lies under the
    child's environment, as it does when the nested stack is made."""
    from engine.orchestration.definitions import Definition
    from engine.resources.group import ResourceGroup, group_template
    from engine.resources.provider import TemplateResource
    from engine.resources.stack_resource import child_environment

    try:
        cls = definition.resource_class(types, name)
    except HearthError:
        return []  # refused elsewhere, or left for the create to find
    environment = definition.environment
    inherited = {
        "resource_registry": environment.resource_registry,
        "parameter_defaults": environment.parameter_defaults,
    }
    if issubclass(cls, TemplateResource):
        # Heat refuses a provider template past max_template_size as it fetches it.
        check_template_size(config, cls.template_text, file=cls.template_file)
        segment, removed = cls.registry_value, cls.registry_value
        nested = _nested_template(cls.template_text, cls.template_file)
    elif issubclass(cls, ResourceGroup):
        member = (definition.template.resources[name].properties or {}).get("resource_def")
        member_type = member.get("type") if isinstance(member, dict) else None
        if not isinstance(member_type, str):
            return []  # known only once the group resolves it: checked as its stack is made
        segment, removed = GROUP_TEMPLATE, None
        nested = _nested_template(
            json.dumps(group_template(["0"], {"type": member_type}, "%index%")),
            f"{definition.template.filename}#{name}",
        )
    else:
        return []
    if nested is None:
        return []
    try:
        child = parse_environment(child_environment(inherited, name, removed), "environment")
    except HearthError:
        return []
    if base_environment is not None:
        child = merge_environments([base_environment, child])
    return [(segment, Definition(nested, child, {}, definition.files))]


@functools.lru_cache(maxsize=64)
def _nested_template(text: str, filename: str):
    """A nested template parsed once for the nesting check; None when it does not parse (its own
    errors are found when its stack is made, as in Heat)."""
    try:
        return parse_template(text, filename=filename)
    except HearthError:
        return None


class NestingCheck:
    """Heat's validation of nested stacks before a top-level stack is made or updated: each
    nested stack (a provider template, a group's nested stack with one member, as Heat
    validates groups) is a level deeper, refused past max_nested_stack_depth, and a nested
    template with more resources than max_resources_per_stack is refused. Errors read as
    Heat's: StackValidationFailed, `RequestLimitExceeded: PATH: message`, the path naming each
    level as `name<template>`.

    `levels(definition, name)` answers the nested stack a resource of `definition` makes, as
    (segment, child definition) pairs; the service builds them from the environment and the
    files map. A resource whose nested stack is not known before it is made has none.
    """

    def __init__(self, config, levels: Callable[[Any, str], Iterable[tuple[str, Any]]]):
        self.config = config
        self.levels = levels
        self._seen: set = set()

    def check(self, definition) -> None:
        limit = self.config.max_nested_stack_depth
        # Without a limit, the walk stops at Heat's default depth: deeper stacks are made
        # (and counted) one at a time as they are created.
        self._walk(definition, (), 0, limit if limit >= 0 else 5, definition.template)

    def _walk(self, definition, path: tuple, depth: int, limit: int, top) -> None:
        key = (
            definition.template.filename,
            len(definition.template.resources),
            depth,
            json.dumps(definition.environment.resource_registry, sort_keys=True, default=str),
        )
        if key in self._seen:  # the same template at the same depth: already walked
            return
        self._seen.add(key)
        for name in definition.template.resources:
            for segment, child in self.levels(definition, name):
                where = path + ("resources", f"{name}<{segment}>")
                if depth >= limit:
                    if self.config.max_nested_stack_depth >= 0:
                        raise _refusal(depth_exceeded(self.config), where, top)
                    continue
                error = resources_exceeded(self.config, len(child.template.resources))
                if error is not None:
                    raise _refusal(error, where, top)
                self._walk(child, where, depth + 1, limit, top)


def _refusal(error: LimitExceeded, path: tuple, top) -> TemplateError:
    """Heat's StackValidationFailed around a limit: `RequestLimitExceeded: PATH: message`."""
    line = top.line_for(("resources", path[1].split("<", 1)[0]))
    return TemplateError(
        error.reason,
        path=path,
        file=top.filename,
        line=line,
        kind="StackValidationFailed",
        prefix="RequestLimitExceeded: ",
        detail=error.detail,
    )
