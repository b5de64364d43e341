"""The engine facade: the one set of operations the HTTP server and tools call.

Each method validates its input, does one unit of work in the store and hands long-running
work to the scheduler. Errors are HearthErrors with messages a person can act on.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import uuid
from typing import Any

from sqlalchemy import func, insert, select

from engine import guest, views
from engine.errors import Conflict, HearthError, InvalidRequest, NotFound, TemplateError
from engine.resources import types as resource_types
from engine.runtime import Runtime
from engine.scheduler import Scheduler
from engine.stacks import Definition, Resolver, build_environment
from engine.store.models import Event, Resource, Stack
from engine.template import merge_environments, parse_template
from engine.template.functions import functions_for

STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,254}$")
MAX_EVENT_PAGE = 1000


class Service:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.types = resource_types()
        self.scheduler = Scheduler(runtime, self.types)
        self.guest = guest.GuestService(runtime)

    def start(self) -> None:
        self.runtime.store.migrate()
        self.scheduler.start()

    def stop(self) -> None:
        self.scheduler.stop()
        self.runtime.compute.shutdown()

    # Stacks ------------------------------------------------------------------------------
    def create_stack(self, project: str, body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("stack_name")
        if not isinstance(name, str) or not STACK_NAME.match(name):
            raise InvalidRequest("stack_name must start with a letter and contain only letters, "
                                 "digits, '_', '-' and '.' (at most 255 characters)")
        definition = self._definition(body)
        template = definition.template
        self._validate_resources(definition)
        requires = {n: sorted(r) for n, r in template.dependencies().items()}
        timeout = body.get("timeout_mins")
        timeout = self.runtime.config.stack_timeout_mins if timeout is None else timeout
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 7 * 24 * 60:
            raise InvalidRequest("timeout_mins must be a positive number of minutes (at most a week)")
        hidden = template.hidden_parameters()
        stored_params = {k: (self.runtime.keyring.encrypt(json.dumps(v)) if k in hidden else v)
                         for k, v in definition.parameters.items()}
        now = self.runtime.now()
        stack = Stack(
            id=str(uuid.uuid4()), name=name, project=project, action="CREATE", status="IN_PROGRESS",
            status_reason="Stack CREATE started", description=template.description,
            template=template.raw, template_source=body["template"] if isinstance(body["template"], str) else None,
            template_name=body.get("template_name") or "template", files=definition.files,
            environment=_environment_dict(definition.environment), parameters=stored_params,
            timeout_mins=timeout, disable_rollback=bool(body.get("disable_rollback", True)),
            deadline=now + dt.timedelta(minutes=timeout), operation=1, created_at=now)
        with self.runtime.store.session() as session:
            if session.scalar(select(Stack.id).where(Stack.project == project, Stack.name == name,
                                                     Stack.deleted_at.is_(None))):
                raise Conflict(f"a stack named '{name}' already exists")
            session.add(stack)
            session.flush()
            if template.resources:
                session.execute(insert(Resource), [
                    {"stack_id": stack.id, "name": r.name, "type": r.type, "requires": requires[r.name],
                     "action": "INIT", "status": "COMPLETE", "status_reason": "", "data": {}, "attributes": {},
                     "waiting": False, "created_at": now} for r in template.resources.values()])
            session.add(Event(id=str(uuid.uuid4()), stack_id=stack.id, resource_name=name,
                              resource_type="OS::Heat::Stack", physical_id=stack.id, action="CREATE",
                              status="IN_PROGRESS", reason="Stack CREATE started", created_at=now))
        self.scheduler.definitions.put(stack.id, definition)
        self.scheduler.submit(stack.id)
        return {"id": stack.id, "stack_name": name,
                "links": [{"href": views.stack_link(self.runtime.public_url, stack), "rel": "self"}]}

    def _definition(self, body: dict[str, Any]) -> Definition:
        source = body.get("template")
        if not isinstance(source, (str, dict)) or not source:
            raise InvalidRequest("the request needs a 'template': the template text or object")
        files = body.get("files") or {}
        if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
            raise InvalidRequest("'files' must map file names to their text")
        parameters = body.get("parameters") or {}
        if not isinstance(parameters, dict):
            raise InvalidRequest("'parameters' must be a map of parameter names to values")
        env_files = body.get("environment_files") or []
        if not isinstance(env_files, list):
            raise InvalidRequest("'environment_files' must be a list of names in 'files'")
        # Heat's order: the request's environment, then -P parameters, then environment files.
        environment = build_environment(body.get("environment") or {}, [], files)
        environment.parameters.update(parameters)
        if env_files:
            environment = merge_environments([environment, build_environment({}, env_files, files)])
        template = parse_template(source, filename=body.get("template_name") or "template", files=files)
        values = template.validate_parameters(environment.parameters, environment.parameter_defaults)
        # Environment files are merged above; keeping them would keep hidden values in clear.
        kept = {k: v for k, v in files.items() if k not in set(env_files)}
        return Definition(template, environment, values, kept)

    def _validate_resources(self, definition: Definition) -> None:
        template = definition.template
        names = set(functions_for(template.version))

        def unresolved(value) -> bool:
            return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in names

        classes = {name: definition.resource_class(self.types, name) for name in template.resources}
        for name, resource in template.resources.items():
            try:
                classes[name].check_properties(resource.properties, unresolved=unresolved)
            except TemplateError as error:
                raise template.error(error.reason, ("resources", name, "properties") + error.path) from None
        for path, target, attribute in _attribute_references(template):
            cls = classes.get(target)
            if cls is not None and not cls.dynamic_attributes and attribute not in cls.attributes_schema:
                known = ", ".join(sorted(cls.attributes_schema)) or "none"
                raise template.error(f"resource '{target}' ({template.resources[target].type}) has no "
                                     f"attribute '{attribute}' (it has: {known})", path)

    def list_stacks(self, project: str) -> list[dict]:
        with self.runtime.store.session() as session:
            rows = session.scalars(select(Stack).where(Stack.project == project, Stack.deleted_at.is_(None),
                                                       Stack.owner_id.is_(None)).order_by(Stack.created_at))
            return [views.stack_summary(s, self.runtime.public_url) for s in rows]

    def find_stack(self, project: str, name_or_id: str, by_id_only: bool = False) -> Stack:
        """A stack by id (deleted ones too, as Heat shows them) or by the name of a live one."""
        with self.runtime.store.session() as session:
            stack = session.get(Stack, name_or_id)
            if stack is None and not by_id_only:
                stack = session.scalar(select(Stack).where(Stack.project == project, Stack.name == name_or_id,
                                                           Stack.deleted_at.is_(None)))
        if stack is None or stack.project != project:
            raise NotFound(f"stack '{name_or_id}' not found")
        return stack

    def show_stack(self, project: str, stack_id: str, resolve_outputs: bool = True) -> dict:
        stack = self.find_stack(project, stack_id, by_id_only=True)
        definition = self.scheduler.definitions.get(self.runtime, stack)
        outputs = self.outputs(stack, definition) if resolve_outputs else []
        return views.stack_detail(stack, self.runtime.public_url, definition.parameters,
                                  definition.template.hidden_parameters(), outputs)

    def outputs(self, stack: Stack, definition: Definition | None = None) -> list[dict]:
        definition = definition or self.scheduler.definitions.get(self.runtime, stack)
        with self.runtime.store.session() as session:
            rows = {r.name: r for r in session.scalars(select(Resource).where(Resource.stack_id == stack.id))}

        def lookup(name):
            row = rows.get(name)
            if row is None or row.physical_id is None and not row.data:
                return None
            cls = definition.resource_class(self.types, name)
            return cls, row.physical_id, row.attributes or {}, row.data or {}

        resolver = Resolver(self.runtime, stack, definition, lookup)
        result = []
        for key, output in definition.template.outputs.items():
            entry = {"output_key": key, "description": output.description or "No description given",
                     "output_value": None}
            try:
                entry["output_value"] = definition.template.resolve(output.value, resolver, ("outputs", key, "value"))
            except HearthError as error:
                entry["output_error"] = str(error)
            result.append(entry)
        return result

    def show_output(self, project: str, stack_id: str, key: str) -> dict:
        stack = self.find_stack(project, stack_id, by_id_only=True)
        for entry in self.outputs(stack):
            if entry["output_key"] == key:
                return entry
        raise NotFound(f"stack '{stack.name}' has no output '{key}'")

    def list_outputs(self, project: str, stack_id: str) -> list[dict]:
        stack = self.find_stack(project, stack_id, by_id_only=True)
        template = self.scheduler.definitions.get(self.runtime, stack).template
        return [{"output_key": k, "description": o.description or "No description given"}
                for k, o in template.outputs.items()]

    def delete_stack(self, project: str, stack_id: str) -> None:
        stack = self.find_stack(project, stack_id, by_id_only=True)
        if stack.deleted_at is not None:
            raise NotFound(f"stack '{stack.name}' is already deleted")
        now = self.runtime.now()
        with self.runtime.store.session() as session:
            row = session.get(Stack, stack.id, with_for_update=True)
            if row.action == "DELETE" and row.status == "IN_PROGRESS":
                return
            row.action, row.status, row.status_reason = "DELETE", "IN_PROGRESS", "Stack DELETE started"
            row.operation += 1
            row.deadline, row.updated_at = now + dt.timedelta(minutes=row.timeout_mins), now
            session.add(Event(id=str(uuid.uuid4()), stack_id=row.id, resource_name=row.name,
                              resource_type="OS::Heat::Stack", physical_id=row.id, action="DELETE",
                              status="IN_PROGRESS", reason="Stack DELETE started", created_at=now))
        self.runtime.publish_stack(stack.id)
        self.scheduler.submit(stack.id)

    # Resources and events -----------------------------------------------------------------
    def _resource_views(self, stack: Stack) -> list[tuple[Resource, dict]]:
        """Each resource row of the stack with its API view (required_by derived from all rows)."""
        with self.runtime.store.session() as session:
            rows = list(session.scalars(select(Resource).where(Resource.stack_id == stack.id).order_by(Resource.id)))
        required_by: dict[str, list[str]] = {r.name: [] for r in rows}
        for row in rows:
            for name in row.requires or []:
                required_by.setdefault(name, []).append(row.name)
        return [(r, views.resource_view(r, stack, self.runtime.public_url, required_by[r.name])) for r in rows]

    def list_resources(self, project: str, stack_id: str) -> list[dict]:
        stack = self.find_stack(project, stack_id, by_id_only=True)
        return [view for _, view in self._resource_views(stack)]

    def show_resource(self, project: str, stack_id: str, name: str) -> dict:
        stack = self.find_stack(project, stack_id, by_id_only=True)
        for row, view in self._resource_views(stack):
            if row.name == name:
                template = self.scheduler.definitions.get(self.runtime, stack).template
                view["attributes"] = dict(row.attributes or {})
                view["description"] = ""
                view["metadata"] = template.resources[name].metadata if name in template.resources else {}
                return view
        raise NotFound(f"stack '{stack.name}' has no resource '{name}'")

    def show_event(self, project: str, stack_id: str, resource: str, event_id: str) -> dict:
        stack = self.find_stack(project, stack_id, by_id_only=True)
        with self.runtime.store.session() as session:
            event = session.scalar(select(Event).where(Event.id == event_id, Event.stack_id == stack.id,
                                                       Event.resource_name == resource))
        if event is None:
            raise NotFound(f"event '{event_id}' of resource '{resource}' not found in stack '{stack.name}'")
        return views.event_view(event, stack, self.runtime.public_url)

    def list_events(self, project: str, stack_id: str, *, marker: str | None = None, limit: int | None = None,
                    sort_dir: str = "asc", wait: float = 0, resource: str | None = None) -> list[dict]:
        stack = self.find_stack(project, stack_id, by_id_only=True)
        if sort_dir not in ("asc", "desc"):
            raise InvalidRequest("sort_dir must be 'asc' or 'desc'")
        limit = min(int(limit or MAX_EVENT_PAGE), MAX_EVENT_PAGE)
        with self.runtime.store.session() as session:
            after = 0
            if marker:
                after = session.scalar(select(Event.seq).where(Event.id == marker, Event.stack_id == stack.id))
                if after is None:
                    raise NotFound(f"event '{marker}' not found in stack '{stack.name}'")

        def query():
            with self.runtime.store.session() as session:
                q = select(Event).where(Event.stack_id == stack.id)
                if resource is not None:
                    q = q.where(Event.resource_name == resource)
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
                    return bool(session.scalar(select(func.count()).select_from(Event).where(
                        Event.stack_id == stack.id, Event.seq > after)))
            if self.runtime.notifier.wait("stack:" + stack.id, changed, wait):
                events = query()
        return [views.event_view(e, stack, self.runtime.public_url) for e in events]


def _attribute_references(template):
    """(path, resource, attribute) of each get_attr with a literal resource and attribute name."""
    def walk(node, path):
        if isinstance(node, dict):
            args = node.get("get_attr") if len(node) == 1 else None
            if isinstance(args, list) and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
                yield path + ("get_attr",), args[0], args[1]
            for key, value in node.items():
                yield from walk(value, path + (key,))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                yield from walk(value, path + (index,))
    for name, resource in template.resources.items():
        yield from walk(resource.properties, ("resources", name, "properties"))
        yield from walk(resource.metadata, ("resources", name, "metadata"))
    for name, output in template.outputs.items():
        yield from walk(output.value, ("outputs", name, "value"))


def _environment_dict(environment) -> dict:
    # Parameter values are stored validated (hidden ones encrypted) on the stack; keeping the
    # environment's copies would store hidden values in clear.
    return {"resource_registry": dict(environment.resource_registry)}



def build_service(config) -> Service:
    """Wire the store, keys, notification and compute driver of one installation."""
    from engine.compute import make_driver
    from engine.store.crypto import Keyring, load_or_create_key
    from engine.store.db import Store
    from engine.store.notify import Notifier

    # The data dir holds the SQLite file, the key and the servers' bootstrap files: ours alone.
    os.makedirs(config.resolved_data_dir, mode=0o700, exist_ok=True)
    secret = config.secret_key or load_or_create_key(config.resolved_data_dir)
    runtime = Runtime(config=config, store=Store(config.resolved_db_url), keyring=Keyring(secret),
                      notifier=Notifier(), compute=make_driver(config.compute, config))
    return Service(runtime)
