"""service.stacks: create, list, show and delete stacks; touches stack rows, scheduler, identity.

Also a stack's environment, files and outputs, and the resolver over its stored rows that the
other parts and the scheduler use. Creating a top-level stack records, in the stack's own
transaction, the delegation the engine later acts under (engine.identity).
"""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from typing import Any

from sqlalchemy import select

from engine import identity, secrets, views
from engine.errors import (
    EntityNotFound,
    HearthError,
    InvalidRequest,
    NotFound,
    StackExists,
    TemplateError,
)
from engine.identity import Principal
from engine.limits import check_nested_stack
from engine.orchestration.definitions import Definition, Resolver
from engine.orchestration.lifecycle import prepare_rows, start_delete, start_operation
from engine.orchestration.scheduler import Scheduler
from engine.runtime import Runtime
from engine.service.definitions import Definitions, parse_tags
from engine.sinks import records
from engine.store.models import Resource, Stack
from engine.template import parse_template


class Stacks:
    """`service.stacks`: create (and adopt), list, show, delete; a stack's environment, files
    and outputs; the resolver over its stored rows that the other parts and the scheduler use."""

    def __init__(self, runtime: Runtime, scheduler: Scheduler, definitions: Definitions, nested_lock: threading.Lock):
        self.runtime = runtime
        self.scheduler = scheduler
        self.definitions = definitions
        self.types = definitions.types
        self._nested_lock = nested_lock  # engine.limits counts a tree's nested stacks in turn

    # Stacks ------------------------------------------------------------------------------
    def create_stack(
        self, project: str, body: dict[str, Any], username: str | None = None, delegate: Principal | None = None
    ) -> dict[str, Any]:
        """Create the stack; with `delegate`, record in the same transaction the delegation the
        engine later acts under (Heat's trust), so there is never a stack without it."""
        self.definitions.check_template_size(body)
        stack = self.make(project, body, username=username, delegate=delegate)
        return {
            "id": stack.id,
            "stack_name": stack.name,
            "links": [{"href": views.stack_link(self.runtime.api_url, stack), "rel": "self"}],
        }

    def make(
        self,
        project: str,
        body: dict[str, Any],
        owner: tuple[str, str] | None = None,
        username: str | None = None,
        delegate: Principal | None = None,
    ) -> Stack:
        """Record a new stack (a nested one when `owner` is (parent stack id, resource)) and start
        creating (or adopting) it."""
        name = self.definitions.stack_name(body)
        if owner is not None and isinstance(body.get("template"), str):
            self.definitions.check_template_size(body)  # a provider template (one Hearth made is a map)
        adopt = self._adopt_data(body.get("adopt_stack_data"))
        if adopt is not None and not body.get("template"):
            # Heat's adopt reads the template (and files) from the abandon data.
            body = {
                **body,
                "template": adopt.get("template"),
                "files": {**(adopt.get("files") or {}), **(body.get("files") or {})},
            }
        definition = self.definitions.build(body, adopt=adopt)
        template = definition.template
        timeout = self.definitions.timeout(body.get("timeout_mins"), self.runtime.config.stack_timeout_mins)
        now = self.runtime.now()
        action = "ADOPT" if adopt is not None else "CREATE"
        stack = Stack(
            id=str(uuid.uuid4()),
            name=name,
            project=project,
            action=action,
            status="IN_PROGRESS",
            status_reason=f"Stack {action} started",
            description=template.description,
            template=template.raw,
            template_source=body["template"] if isinstance(body["template"], str) else None,
            template_name=body.get("template_name") or "template",
            files=definition.files,
            environment=self.definitions.environment_dict(definition),
            parameters=self.definitions.stored_parameters(definition),
            timeout_mins=timeout,
            requested_timeout_mins=body.get("requested_timeout_mins", body.get("timeout_mins"))
            if owner
            else body.get("timeout_mins"),
            username=username,
            disable_rollback=bool(body.get("disable_rollback", True)),
            tags=parse_tags(body.get("tags") or []),
            operation=0,  # start_operation below makes it the first, with its deadline and event
            created_at=now,
            owner_id=owner[0] if owner else None,
            owner_resource=owner[1] if owner else None,
        )
        if owner is None:
            self.definitions.check_stack_limits(definition)
        self.definitions.validate_resources(definition, stack)
        if owner is None:
            self.definitions.check_nesting(definition)
        definition = self.definitions.conditioned(definition, stack, self.definitions.limits)
        # Nested stacks are counted against their tree as they are stored: one at a time.
        with (
            self._nested_lock if owner is not None else contextlib.nullcontext(),
            self.runtime.store.session() as session,
        ):
            if owner is None and session.scalar(
                select(Stack.id).where(Stack.project == project, Stack.name == name, Stack.deleted_at.is_(None))
            ):
                raise StackExists(name)
            if owner is not None:
                # A nested stack is made by its owner's handler: a limit fails that resource.
                check_nested_stack(self.runtime.config, session, owner[0], len(template.resources))
            session.add(stack)
            session.flush()
            if delegate is not None:
                identity.delegate(session, delegate, project, stack.id, now)
            prepare_rows(session, stack.id, definition.template, now)
            if adopt is not None:
                self._adopt_rows(session, stack, adopt, definition)
            start_operation(session, stack, action, now)
            records.sync(session, self.runtime.keyring, stack, definition.environment.event_sinks, now)
        self.definitions.put(stack, definition)
        if owner is None and definition.environment.event_sinks:
            self.runtime.notifier.publish(records.TOPIC)  # delivery loops that knew of no sink
        self.scheduler.submit(stack.id)
        return stack

    @staticmethod
    def _adopt_data(value: Any) -> dict | None:
        if value is None:
            return None
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise InvalidRequest("adopt_stack_data must be JSON (the answer of abandon)") from None
        if not isinstance(value, dict) or not isinstance(value.get("resources", {}), dict):
            raise InvalidRequest("adopt_stack_data must be a map with a 'resources' map")
        return value

    def _adopt_rows(self, session, stack: Stack, adopt: dict, definition: Definition) -> None:
        """Each resource the adopt data names is taken over: its id, data and attributes
        recorded as adopted. A nested stack's owner keeps its part of the data instead
        (engine["adopt"]): it adopts its nested stack from it as its turn comes."""
        from engine.resources.stack_resource import ADOPT_DATA, StackResource

        rows = {r.name: r for r in session.scalars(select(Resource).where(Resource.stack_id == stack.id))}
        for name, entry in (adopt.get("resources") or {}).items():
            row = rows.get(name)
            if row is None or not isinstance(entry, dict):
                continue
            if issubclass(definition.resource_class(self.types, name), StackResource):
                row.engine = {**(row.engine or {}), ADOPT_DATA: entry}
                continue
            if not entry.get("resource_id"):
                continue
            row.physical_id = str(entry["resource_id"])
            row.data = dict(entry.get("resource_data") or {})
            row.attributes = dict(entry.get("attributes") or {})
            row.action, row.status, row.status_reason = "ADOPT", "COMPLETE", "adopted"
            row.engine = {}  # the adopt operation records what it was made from as it passes

    def list_stacks(self, project: str, *, filters: dict | None = None) -> list[dict]:
        """Heat's stack list with its query filters (tags, tags_any, not_tags, not_tags_any,
        show_nested, show_hidden, show_deleted, status, name, id, action, sort_keys, sort_dir,
        limit, marker)."""
        filters = dict(filters or {})
        q = select(Stack).where(Stack.project == project)
        if not _flag(filters.get("show_deleted")):
            q = q.where(Stack.deleted_at.is_(None))
        if not _flag(filters.get("show_nested")):
            q = q.where(Stack.owner_id.is_(None))
        sort_key = {
            "stack_name": Stack.name,
            "stack_status": Stack.status,
            "creation_time": Stack.created_at,
            "updated_time": Stack.updated_at,
        }.get(_first(filters.get("sort_keys")) or "creation_time")
        if sort_key is None:
            raise InvalidRequest("sort_keys must be one of stack_name, stack_status, creation_time, updated_time")
        q = q.order_by(sort_key.desc() if _first(filters.get("sort_dir")) == "desc" else sort_key, Stack.id)
        with self.runtime.store.session() as session:
            stacks = list(session.scalars(q))
        hidden = {t.strip() for t in self.runtime.config.hidden_stack_tags.split(",") if t.strip()}
        tag_rules = {
            k: set(parse_tags(filters[k])) for k in ("tags", "tags_any", "not_tags", "not_tags_any") if filters.get(k)
        }

        def keep(stack: Stack) -> bool:
            tags = set(stack.tags or [])
            if hidden & tags and not _flag(filters.get("show_hidden")):
                return False
            for key, attr in (
                ("name", "name"),
                ("id", "id"),
                ("status", "status"),
                ("action", "action"),
                ("owner_id", "owner_id"),
            ):
                wanted = filters.get(key)
                if (
                    wanted
                    and getattr(stack, attr) not in ([wanted] if isinstance(wanted, str) else wanted)
                    and not (key == "status" and f"{stack.action}_{stack.status}" == wanted)
                ):
                    return False
            return all(_tags_match(rule, wanted, tags) for rule, wanted in tag_rules.items())

        result = [s for s in stacks if keep(s)]
        marker = filters.get("marker")
        if marker:
            ids = [s.id for s in result]
            if marker not in ids:
                raise NotFound(f"marker stack '{marker}' not found")
            result = result[ids.index(marker) + 1 :]
        if filters.get("limit") not in (None, ""):
            try:
                result = result[: max(int(filters["limit"]), 0)]
            except (TypeError, ValueError):
                raise InvalidRequest("limit must be a whole number") from None
        return [views.stack_summary(s, self.runtime.api_url) for s in result]

    def show_environment(self, project: str, stack_id: str) -> dict:
        """The stack's environment as Heat shows it: as the user gave it (environment files
        merged), hidden parameters' values masked."""
        stack = self.find_stack(project, stack_id, by_id_only=True)
        definition = self.definitions.get(stack)
        hidden = _all_hidden(definition)
        shown = self.definitions.shown_environment(stack)
        for section in ("parameters", "parameter_defaults"):
            shown[section] = secrets.masked_parameters(shown.get(section) or {}, hidden)
        if shown.get("event_sinks"):
            shown["event_sinks"] = secrets.masked_sinks(shown["event_sinks"])
        return shown

    def show_files(self, project: str, stack_id: str) -> dict:
        stack = self.find_stack(project, stack_id, by_id_only=True)
        return dict(self.definitions.get(stack).files)

    def find_stack(self, project: str, name_or_id: str, by_id_only: bool = False) -> Stack:
        """A stack by id (deleted ones too, as Heat shows them) or by the name of a live one."""
        with self.runtime.store.session() as session:
            stack = session.get(Stack, name_or_id)
            if stack is None and not by_id_only:
                stack = session.scalar(
                    select(Stack).where(Stack.project == project, Stack.name == name_or_id, Stack.deleted_at.is_(None))
                )
        if stack is None or stack.project != project:
            raise EntityNotFound("Stack", name_or_id)
        return stack

    def live_stack(self, project: str, stack_id: str) -> Stack:
        """A stack by id that is not deleted (an operation's target)."""
        stack = self.find_stack(project, stack_id, by_id_only=True)
        if stack.deleted_at is not None:
            raise EntityNotFound("Stack", stack.name)
        return stack

    def show_stack(self, project: str, stack_id: str, resolve_outputs: bool = True) -> dict:
        stack = self.find_stack(project, stack_id, by_id_only=True)
        definition = self.definitions.get(stack)
        deleted = (stack.action, stack.status) == ("DELETE", "COMPLETE")
        outputs = self.outputs(stack, definition) if resolve_outputs and not deleted else None
        parameters, hidden = definition.parameters, definition.secret_parameters
        previous = (stack.previous or {}).get("parameters")
        if (stack.action, stack.status) == ("UPDATE", "IN_PROGRESS") and isinstance(previous, dict):
            # Until an update ends, Heat's stack show is the stack it updates from (recorded
            # from Heat 27.0.1: environments/hooks-glob-pre-update); hidden values are sealed.
            parameters, hidden = secrets.open_parameters(self.runtime.keyring, previous)
        return views.stack_detail(stack, self.runtime.api_url, parameters, hidden, outputs)

    def outputs(
        self, stack: Stack, definition: Definition | None = None, derived: set[str] | None = None
    ) -> list[dict]:
        """The stack's outputs resolved, as Heat shows them to the stack's owner: values derived
        from a secret in clear. `derived`, when given, collects the keys of those values."""
        definition = definition or self.definitions.get(stack)
        with self.runtime.store.session() as session:
            rows = {r.name: r for r in session.scalars(select(Resource).where(Resource.stack_id == stack.id))}
        resolver = self.row_resolver(stack, definition, rows)
        result = []
        enabled = definition.template.outputs
        # Heat lists an output whose condition is false too, with a null value.
        for key, output in _all_outputs(definition.template).items():
            entry = {
                "output_key": key,
                "description": output.description or "No description given",
                "output_value": None,
            }
            resolver.taint.fresh()
            try:
                if key in enabled:
                    entry["output_value"] = definition.template.resolve(
                        output.value, resolver, ("outputs", key, "value")
                    )
                    if resolver.taint.tainted and derived is not None:
                        derived.add(key)
            except HearthError as error:
                # Heat's output_error is the function's own message, without a location.
                entry["output_error"] = error.reason if isinstance(error, TemplateError) else str(error)
            result.append(entry)
        return result

    def row_resolver(self, stack: Stack, definition: Definition, rows: dict[str, Resource]) -> Resolver:
        """A resolver over stored resource rows (for outputs, previews and nested reads)."""

        def lookup(name):
            row = rows.get(name)
            if row is None:
                return None  # a resource of the template has a row: get_resource gives its name
            cls = definition.class_for(self.types, name, row.type)
            return cls, row.physical_id, row.attributes or {}, row.data or {}

        return self.resolver_for(stack, definition, lookup)

    def resolver_for(self, stack: Stack, definition: Definition, lookup) -> Resolver:
        return Resolver(self.runtime, stack, definition, lookup, facade=self._facade(stack))

    def _facade(self, stack: Stack):
        """resource_facade for a nested stack: the owning resource's definition in its parent."""

        def facade(kind: str) -> Any:
            if not stack.owner_id:
                raise TemplateError("resource_facade is only available in a nested stack")
            parent = self.find_stack(stack.project, stack.owner_id, by_id_only=True)
            resource = self.definitions.get(parent).template.resources.get(stack.owner_resource)
            if resource is None:
                return None
            return {
                "metadata": resource.metadata,
                "deletion_policy": resource.deletion_policy or "Delete",
                "update_policy": resource.update_policy,
            }.get(kind)

        return facade

    def show_output(self, project: str, stack_id: str, key: str) -> dict:
        stack = self.find_stack(project, stack_id, by_id_only=True)
        for entry in self.outputs(stack):
            if entry["output_key"] == key:
                return entry
        raise NotFound(f"stack '{stack.name}' has no output '{key}'")

    def list_outputs(self, project: str, stack_id: str) -> list[dict]:
        stack = self.find_stack(project, stack_id, by_id_only=True)
        template = self.definitions.get(stack).template
        return [
            {"output_key": k, "description": o.description or "No description given"}
            for k, o in _all_outputs(template).items()
        ]

    def delete_stack(self, project: str, stack_id: str) -> None:
        stack = self.find_stack(project, stack_id, by_id_only=True)
        if stack.deleted_at is not None:
            raise EntityNotFound("Stack", stack.name)
        now = self.runtime.now()
        with self.runtime.store.session() as session:
            row = session.get(Stack, stack.id, with_for_update=True)
            if row.action == "DELETE" and row.status == "IN_PROGRESS":
                return
            start_delete(session, row, now)
        self.runtime.publish_stack(stack.id)
        self.scheduler.submit(stack.id)


def _flag(value) -> bool:
    return str(_first(value) or "").lower() in ("1", "true", "yes", "on")


def _first(value):
    return value[0] if isinstance(value, list) and value else value


def _tags_match(rule: str, wanted: set[str], tags: set[str]) -> bool:
    if rule == "tags":
        return wanted <= tags
    if rule == "tags_any":
        return bool(wanted & tags)
    if rule == "not_tags":
        return not wanted <= tags
    return not wanted & tags


def _all_outputs(template) -> dict:
    """Every output the template declares, those its conditions leave out included."""
    return getattr(template, "_all_outputs", None) or template.outputs


def _all_hidden(definition: Definition) -> set[str]:
    """The hidden parameters of the stack's template and of every template in its files."""
    hidden = set(definition.template.hidden_parameters()) | set(definition.secret_parameters)
    for name, text in definition.files.items():
        try:
            hidden |= set(parse_template(text, filename=name).hidden_parameters())
        except Exception:  # noqa: BLE001 - a file that is no template hides nothing
            continue
    return hidden
