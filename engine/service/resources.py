"""service.resources, a stack's resources and events: reads their rows (and Server rows), finds
stacks via stacks, and blocks on the notifier for the events long-poll.

Heat's resource list, show and metadata and its event list (with long-poll) and show; reads
Resource, Event and Server rows and the scheduler's definitions.
"""

from __future__ import annotations

from sqlalchemy import func, select

from engine import secrets, views
from engine.errors import HearthError, HTTPNotFound, InvalidRequest, ResourceNotFound
from engine.guest import traces
from engine.orchestration.definitions import Definition, tainted_properties
from engine.orchestration.scheduler import Scheduler
from engine.resources.heat_stack import REMOTE_STACK_TYPES
from engine.runtime import Runtime
from engine.secrets import masked
from engine.service.definitions import Definitions
from engine.service.scaling import GROUP_TYPES
from engine.service.stacks import Stacks
from engine.store.models import Event, Resource, Server, Stack

MAX_EVENT_PAGE = 1000


class Resources:
    """`service.resources`: what Heat's resources and events calls answer."""

    def __init__(self, runtime: Runtime, scheduler: Scheduler, definitions: Definitions, stacks: Stacks):
        self.runtime = runtime
        self.scheduler = scheduler
        self.definitions = definitions
        self.stacks = stacks
        self.types = stacks.types

    def _resource_views(self, stack: Stack) -> list[tuple[Resource, dict]]:
        """Each resource row of the stack with its API view (required_by derived from all rows)."""
        with self.runtime.store.session() as session:
            rows = list(session.scalars(select(Resource).where(Resource.stack_id == stack.id).order_by(Resource.id)))
            children = {
                c.id: c
                for c in session.scalars(select(Stack).where(Stack.owner_id == stack.id, Stack.deleted_at.is_(None)))
            }
        required_by: dict[str, list[str]] = {r.name: [] for r in rows}
        for row in rows:
            for name in row.requires or []:
                required_by.setdefault(name, []).append(row.name)
        return [
            (
                r,
                views.resource_view(
                    r,
                    stack,
                    self.runtime.api_url,
                    required_by[r.name],
                    nested=None if r.type in REMOTE_STACK_TYPES else children.get(r.physical_id),
                ),
            )
            for r in rows
        ]

    def list_resources(
        self,
        project: str,
        stack_id: str,
        *,
        nested_depth: int = 0,
        with_detail: bool = False,
        filters: dict | None = None,
    ) -> list[dict]:
        """The stack's resources; with nested_depth, those of nested stacks down to that depth,
        each with `parent_resource` naming the resource that owns its stack."""
        stack = self.stacks.find_stack(project, stack_id, by_id_only=True)
        if stack.deleted_at is not None:
            return []  # Heat lists no resources of a deleted stack
        try:
            depth = int(nested_depth or 0)
        except (TypeError, ValueError):
            raise InvalidRequest("nested_depth must be a whole number") from None
        result: list[dict] = []
        pending: list[tuple[Stack, int, str | None]] = [(stack, 0, None)]
        while pending:
            current, level, _parent_resource = pending.pop(0)
            for row, view in self._resource_views(current):
                if with_detail:
                    view["attributes"] = views.shown_attributes(row.attributes)
                    view["description"] = ""
                if _matches(view, filters or {}):
                    result.append(view)
                if level < depth and row.physical_id and row.type not in REMOTE_STACK_TYPES:
                    with self.runtime.store.session() as session:
                        child = session.get(Stack, row.physical_id)
                    if child is not None and child.owner_id == current.id and child.deleted_at is None:
                        pending.append((child, level + 1, row.name))
        return result

    def show_resource(self, project: str, stack_id: str, name: str) -> dict:
        stack = self.stacks.find_stack(project, stack_id, by_id_only=True)
        for row, view in self._resource_views(stack):
            if row.name == name:
                template = self.definitions.get(stack).template
                definition = self.definitions.get(stack)
                view["attributes"] = secrets.masked(self.live_attributes(definition, row, stack))
                view["description"] = template.resources[name].description if name in template.resources else ""
                return view
        raise ResourceNotFound(name, stack.name)

    def live_attributes(self, definition: Definition, row: Resource, stack: Stack | None = None) -> dict:
        """A resource's attributes as Heat's resource show answers them: its `show` attribute
        when that is a map, else every declared attribute resolved now (None when it cannot be)."""
        cls = definition.class_for(self.types, row.name, row.type)
        stored = dict(row.attributes or {})
        started = row.action != "INIT" or bool((row.engine or {}).get("hook"))
        if (
            stack is not None
            and not row.physical_id
            and not stored
            and started
            and row.name in definition.template.resources
        ):
            # Started but not made yet (paused at a hook): attributes Heat reads straight from
            # the properties (a Value's) are resolved from them now. One never started shows
            # none, as in Heat.
            stored = cls.attributes_when_refused(self._resolved_properties(stack, definition, row.name)) or {}
        args = (self.runtime, row.physical_id, stored, dict(row.data or {}))

        def resolve(name):
            if name in cls.secret_attributes:
                return secrets.HIDDEN if cls.attribute(self.runtime, name, *args[1:]) is not None else None
            if name in stored and secrets.holds_sealed(stored[name]):
                # It holds a sealed value: shown masked, never opened (get_attr opens it).
                return secrets.masked(stored[name])
            try:
                return cls.attribute(self.runtime, name, *args[1:])
            except Exception:  # noqa: BLE001 - Heat shows an attribute it cannot resolve as null
                return None

        show = resolve("show")
        if isinstance(show, dict):
            return show
        names = [n for n in cls.attributes_schema if n != "show"]
        if cls.dynamic_attributes:
            names += [n for n in (row.attributes or {}) if n not in names]
        return {name: resolve(name) for name in names}

    def _resolved_properties(self, stack: Stack, definition: Definition, name: str) -> dict:
        """The resource's properties resolved against the stored rows, or {} when they cannot be;
        those derived from a secret shown as ******."""
        with self.runtime.store.session() as session:
            rows = {r.name: r for r in session.scalars(select(Resource).where(Resource.stack_id == stack.id))}
        resolver = self.stacks.row_resolver(stack, definition, rows)
        properties, path = definition.template.resources[name].properties, ("resources", name, "properties")
        try:
            resolved = definition.template.resolve(properties, resolver, path)
            derived = (
                tainted_properties(definition.template, properties, resolver, path) if resolver.taint.tainted else ()
            )
        except HearthError:
            return {}
        return secrets.masked_paths(resolved, derived) if isinstance(resolved, dict) else {}

    def resource_metadata(self, project: str, stack_id: str, name: str) -> dict:
        """Heat's resource metadata: a server's whole metadata document (deployments,
        os-collect-config; sealed values shown as ******), else the template's Metadata."""
        stack = self.stacks.find_stack(project, stack_id, by_id_only=True)
        with self.runtime.store.session() as session:
            row = session.scalar(select(Resource).where(Resource.stack_id == stack.id, Resource.name == name))
            server = session.get(Server, row.physical_id) if row is not None and row.physical_id else None
            if server is not None and server.stack_id == stack.id and server.deleted_at is None:
                return masked(dict(traces.heat_shaped(server.metadata_doc or {})))
        if row is None:
            raise ResourceNotFound(name, stack.name)
        template = self.definitions.get(stack).template
        metadata = template.resources[name].metadata if name in template.resources else {}
        scaling = (row.data or {}).get("scaling")
        if isinstance(scaling, dict) and row.type in GROUP_TYPES:
            # A scaling group's cooldown and scaling_in_progress, kept in its metadata as Heat keeps them.
            return {**(metadata or {}), **scaling}
        return metadata

    def show_event(self, project: str, stack_id: str, resource: str, event_id: str) -> dict:
        stack = self.stacks.find_stack(project, stack_id, by_id_only=True)
        with self.runtime.store.session() as session:
            event = session.scalar(
                select(Event).where(Event.id == event_id, Event.stack_id == stack.id, Event.resource_name == resource)
            )
        if event is None:
            raise HTTPNotFound(f"No event {event_id} found")
        view = views.event_view(event, stack, self.runtime.api_url, detail=True)
        view["resource_properties"] = self._event_properties(stack, event)
        return view

    def _event_properties(self, stack: Stack, event: Event) -> dict:
        """Heat's `resource_properties` of an event: the properties the template gives the
        resource, resolved (a stack's own event has none). Hearth resolves them when the event
        is shown, against the stack as it is now."""
        if event.resource_type == "OS::Heat::Stack" and event.resource_name == stack.name:
            return {}
        definition = self.definitions.get(stack)
        resource = definition.template.resources.get(event.resource_name)
        if resource is None:
            return {}
        with self.runtime.store.session() as session:
            rows = {r.name: r for r in session.scalars(select(Resource).where(Resource.stack_id == stack.id))}
        resolver = self.stacks.row_resolver(stack, definition, rows)
        path = ("resources", event.resource_name, "properties")
        try:
            resolved = definition.template.resolve(resource.properties, resolver, path)
            # What is derived from a secret is shown as ******, as in the resource's attributes.
            derived = (
                tainted_properties(definition.template, resource.properties, resolver, path)
                if resolver.taint.tainted
                else ()
            )
        except HearthError:
            return {}
        return secrets.masked_paths(secrets.masked(resolved), derived) if isinstance(resolved, dict) else {}

    def list_events(
        self,
        project: str,
        stack_id: str,
        *,
        marker: str | None = None,
        limit: int | None = None,
        sort_dir: str = "asc",
        wait: float = 0,
        resource: str | None = None,
        filters: dict[str, list[str]] | None = None,
        nested_depth: int = 0,
    ) -> list[dict]:
        """The stack's events; `filters` are Heat's resource_status (COMPLETE, ...),
        resource_action (CREATE, ...), resource_name and resource_type, each one value or more;
        with nested_depth, those of its nested stacks down to that depth too, in the order they
        happened (each links to its own stack and to the root one)."""
        stack = self.stacks.find_stack(project, stack_id, by_id_only=True)
        if sort_dir not in ("asc", "desc"):
            raise InvalidRequest("sort_dir must be 'asc' or 'desc'")
        limit = min(int(limit or MAX_EVENT_PAGE), MAX_EVENT_PAGE)
        columns = {
            "resource_status": Event.status,
            "resource_action": Event.action,
            "resource_name": Event.resource_name,
            "resource_type": Event.resource_type,
        }
        stacks = {stack.id: stack}
        if nested_depth:
            stacks.update({s.id: s for s in self._nested_stacks(stack, int(nested_depth))})
        with self.runtime.store.session() as session:
            after = 0
            if marker:
                # Heat pages from an unknown marker as from none.
                after = session.scalar(select(Event.seq).where(Event.id == marker, Event.stack_id.in_(stacks)))
                marker = marker if after is not None else None
                after = after or 0
            if resource is not None and not session.scalar(
                select(Event.id).where(Event.stack_id == stack.id, Event.resource_name == resource).limit(1)
            ):
                raise HTTPNotFound(f"No events found for resource {resource}")

        def query():
            with self.runtime.store.session() as session:
                q = select(Event).where(Event.stack_id.in_(stacks))
                if resource is not None:
                    q = q.where(Event.resource_name == resource)
                for key, values in (filters or {}).items():
                    q = q.where(columns[key].in_(values))
                if sort_dir == "asc":
                    q = q.where(Event.seq > after).order_by(Event.seq)
                else:
                    q = q.where(Event.seq < after) if marker else q
                    q = q.order_by(Event.seq.desc())
                return list(session.scalars(q.limit(limit)))

        events = query()
        if not events and wait > 0 and sort_dir == "asc":
            wait = min(float(wait), self.runtime.config.longpoll_max_wait)

            def changed() -> bool:
                with self.runtime.store.session() as session:
                    return bool(
                        session.scalar(
                            select(func.count()).select_from(Event).where(Event.stack_id == stack.id, Event.seq > after)
                        )
                    )

            if self.runtime.notifier.wait("stack:" + stack.id, changed, wait):
                events = query()
        root = stack if nested_depth else None
        return [views.event_view(e, stacks[e.stack_id], self.runtime.api_url, root=root) for e in events]

    def _nested_stacks(self, stack: Stack, depth: int) -> list[Stack]:
        """The live stacks nested in `stack`, down to `depth` levels."""
        found: list[Stack] = []
        level = [stack.id]
        with self.runtime.store.session() as session:
            for _ in range(depth):
                if not level:
                    break
                children = list(
                    session.scalars(select(Stack).where(Stack.owner_id.in_(level), Stack.deleted_at.is_(None)))
                )
                # Heat finds nested stacks through their resources: an empty one is not listed.
                filled = set(
                    session.scalars(select(Resource.stack_id).where(Resource.stack_id.in_([c.id for c in children])))
                )
                found += [c for c in children if c.id in filled]
                level = [c.id for c in children]
        return found


def _matches(view: dict, filters: dict) -> bool:
    """Heat's resource list filters: name, status, action, type, id (each one or several)."""
    fields = {
        "name": "resource_name",
        "status": None,
        "action": None,
        "type": "resource_type",
        "id": "physical_resource_id",
    }
    for key, field in fields.items():
        wanted = filters.get(key)
        if not wanted:
            continue
        wanted = [wanted] if isinstance(wanted, str) else list(wanted)
        action, _, status = view["resource_status"].partition("_")
        value = {"status": status, "action": action}.get(key) if field is None else view[field]
        if value not in wanted:
            return False
    return True
