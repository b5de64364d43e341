"""The engine facade: the one set of operations the HTTP server and tools call.

Each method validates its input, does one unit of work in the store and hands long-running
work to the scheduler. Errors are HearthErrors with messages a person can act on.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import json
import os
import re
import threading
import uuid
from typing import Any

from sqlalchemy import func, select

from engine import catalog, secrets, views
from engine.children import SECRET_PARAMETERS, Children
from engine.errors import (
    EntityNotFound,
    HearthError,
    HTTPNotFound,
    InvalidRequest,
    LimitExceeded,
    NotFound,
    ResourceNotFound,
    StackExists,
    TemplateError,
)

# The guest side's data types and constants that the server's views name (metadata_server/guest/).
from engine.guest.credentials import GuestAuth  # noqa: F401
from engine.guest.service import GuestService
from engine.guest.transports.cfn import SignedRequest  # noqa: F401
from engine.guest.transports.heat import (  # noqa: F401
    TOKEN_PREFIX as GUEST_TOKEN_PREFIX,
    WRONG_TARGET as GUEST_TOKEN_WRONG_TARGET,
)
from engine.guest.transports.temp_url import KEY_HEADER as TEMP_URL_KEY_HEADER  # noqa: F401
from engine.limits import (
    NestingCheck,
    check_nested_stack,
    check_template_size,
    nested_levels,
    resources_exceeded,
)
from engine.operations import Operations, parse_tags
from engine.previews import Previews
from engine.resources import types as resource_types
from engine.resources.heat_stack import REMOTE_STACK_TYPES
from engine.runtime import Runtime
from engine.scheduler import Scheduler
from engine.secrets import masked
from engine.software_api import SoftwareApi
from engine.stacks import (
    Definition,
    Resolver,
    apply_conditions,
    check_request_fields,
    prepare_rows,
    pseudo_parameters,
    request_environment,
)
from engine.steps import tainted_properties
from engine.store.models import Event, Resource, Server, Stack
from engine.template import Environment, merge_environments, parse_template
from engine.template.context import ParameterContext
from engine.template.limits import Limits

STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,254}$")
MAX_EVENT_PAGE = 1000


class Service(Operations, Previews, SoftwareApi):
    def __init__(self, runtime: Runtime, base_environment=None):
        self.runtime = runtime
        self.types = resource_types()
        self.base_environment = base_environment  # the global environment directory, merged first
        self.scheduler = Scheduler(runtime, self.types, resolver_for=self.resolver_for)
        self._nested_lock = threading.Lock()  # engine.limits counts a tree's nested stacks in turn
        self.guest = GuestService(runtime)
        runtime.stacks = Children(self)

    def start(self) -> None:
        self.runtime.store.migrate()
        self.scheduler.start()

    def stop(self) -> None:
        self.scheduler.stop()
        self.runtime.compute.shutdown()

    # Stacks ------------------------------------------------------------------------------
    def create_stack(self, project: str, body: dict[str, Any], username: str | None = None) -> dict[str, Any]:
        self.check_template_size(body)
        stack = self._create(project, body, username=username)
        return {"id": stack.id, "stack_name": stack.name,
                "links": [{"href": views.stack_link(self.runtime.api_url, stack), "rel": "self"}]}

    def _create(self, project: str, body: dict[str, Any], owner: tuple[str, str] | None = None,
                username: str | None = None) -> Stack:
        """Record a new stack (a nested one when `owner` is (parent stack id, resource)) and start
        creating (or adopting) it."""
        name = self._stack_name(body)
        if owner is not None and isinstance(body.get("template"), str):
            self.check_template_size(body)  # a provider template (one Hearth made is a map)
        adopt = self._adopt_data(body.get("adopt_stack_data"))
        if adopt is not None and not body.get("template"):
            # Heat's adopt reads the template (and files) from the abandon data.
            body = {**body, "template": adopt.get("template"),
                    "files": {**(adopt.get("files") or {}), **(body.get("files") or {})}}
        definition = self._definition(body, adopt=adopt)
        template = definition.template
        timeout = self._timeout(body.get("timeout_mins"), self.runtime.config.stack_timeout_mins)
        now = self.runtime.now()
        action = "ADOPT" if adopt is not None else "CREATE"
        stack = Stack(
            id=str(uuid.uuid4()), name=name, project=project, action=action, status="IN_PROGRESS",
            status_reason=f"Stack {action} started", description=template.description,
            template=template.raw, template_source=body["template"] if isinstance(body["template"], str) else None,
            template_name=body.get("template_name") or "template", files=definition.files,
            environment=self._environment_dict(definition),
            parameters=self._stored_parameters(definition), timeout_mins=timeout,
            requested_timeout_mins=body.get("requested_timeout_mins", body.get("timeout_mins")) if owner
            else body.get("timeout_mins"), username=username,
            disable_rollback=bool(body.get("disable_rollback", True)), tags=parse_tags(body.get("tags") or []),
            deadline=now + dt.timedelta(minutes=timeout), operation=1, created_at=now,
            owner_id=owner[0] if owner else None, owner_resource=owner[1] if owner else None)
        if owner is None:
            self.check_stack_limits(definition)
        self.validate_resources(definition, stack)
        if owner is None:
            self.check_nesting(definition)
        definition = self.conditioned(definition, stack, self.limits)
        # Nested stacks are counted against their tree as they are stored: one at a time.
        with self._nested_lock if owner is not None else contextlib.nullcontext(), \
                self.runtime.store.session() as session:
            if owner is None and session.scalar(select(Stack.id).where(
                    Stack.project == project, Stack.name == name, Stack.deleted_at.is_(None))):
                raise StackExists(name)
            if owner is not None:
                # A nested stack is made by its owner's handler: a limit fails that resource.
                check_nested_stack(self.runtime.config, session, owner[0], len(template.resources))
            session.add(stack)
            session.flush()
            prepare_rows(session, stack.id, definition.template, now)
            if adopt is not None:
                self._adopt_rows(session, stack, adopt, definition)
            session.add(Event(id=str(uuid.uuid4()), stack_id=stack.id, resource_name=name,
                              resource_type="OS::Heat::Stack", physical_id=stack.id, action=action,
                              status="IN_PROGRESS", reason=f"Stack {action} started", created_at=now))
        self.scheduler.definitions.put(stack, definition)
        self.scheduler.submit(stack.id)
        return stack

    @staticmethod
    def conditioned(definition: Definition, stack: Stack, limits: Limits | None = None) -> Definition:
        """The definition with its template's conditions decided for this stack."""
        return dataclasses.replace(definition, template=apply_conditions(
            definition.template, definition.parameters, stack, limits))

    @property
    def limits(self) -> Limits:
        """What evaluating a template may build here (engine.template.limits)."""
        return Limits.from_config(self.runtime.config)

    def validate_template(self, body: Any, *, show_nested: bool = False) -> dict:
        """Heat's template validate (engine.catalog), with the limits Heat's validate checks:
        the template's size and its resources."""
        self.check_template_size(body)

        def check(definition: Definition) -> None:
            # Heat's validate answers this one as a plain HTTPBadRequest.
            self.check_stack_limits(definition, kind="HTTPBadRequest")
            self.validate_resources(definition)
        return catalog.validate(body, check, show_nested=show_nested,
                                max_depth=self.runtime.config.max_nested_stack_depth)

    # Limits (engine.limits) ------------------------------------------------------------
    def check_template_size(self, body: Any) -> None:
        """Heat's refusal of a template a request sends larger than max_template_size."""
        if isinstance(body, dict) and isinstance(body.get("template"), (str, dict)):
            check_template_size(self.runtime.config, body["template"],
                                file=body.get("template_name") or "template")

    def check_stack_limits(self, definition: Definition, **where: Any) -> None:
        """Heat's refusal of a top-level template with more resources than max_resources_per_stack."""
        error = resources_exceeded(self.runtime.config, len(definition.template.resources),
                                   file=definition.template.filename, **where)
        if error is not None:
            raise error

    def check_nesting(self, definition: Definition) -> None:
        """Heat's validation of the nested stacks of a top-level stack: depth and resources."""
        NestingCheck(self.runtime.config, functools.partial(
            nested_levels, self.runtime.config, self.types, self.base_environment)).check(definition)

    @staticmethod
    def _stack_name(body: dict[str, Any]) -> str:
        name = body.get("stack_name")
        if not isinstance(name, str) or not STACK_NAME.match(name):
            raise InvalidRequest("stack_name must start with a letter and contain only letters, "
                                 "digits, '_', '-' and '.' (at most 255 characters)")
        return name

    @staticmethod
    def _timeout(value: Any, default: float) -> float:
        timeout = default if value is None else value
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 7 * 24 * 60:
            raise InvalidRequest("timeout_mins must be a positive number of minutes (at most a week)")
        return timeout

    def _stored_parameters(self, definition: Definition) -> dict[str, Any]:
        return secrets.seal_parameters(self.runtime.keyring, definition.parameters,
                                       definition.secret_parameters)

    def _environment_dict(self, definition: Definition) -> dict:
        # Parameter values are stored validated (hidden ones encrypted) on the stack; the
        # parameter_defaults nested stacks inherit are kept encrypted, as they may hold secrets,
        # and so is the environment as the user gave it (`stack environment` shows it).
        environment = definition.environment
        stored: dict[str, Any] = {"resource_registry": dict(environment.resource_registry)}
        if environment.event_sinks:
            stored["event_sinks"] = list(environment.event_sinks)
        stored.update(secrets.seal_environment(self.runtime.keyring, environment.parameter_defaults,
                                               definition.registered(self.types)))
        return stored

    def shown_environment(self, stack: Stack) -> dict:
        """The environment as the user gave it (merged), as Heat stores it."""
        shown = secrets.open_shown_environment(self.runtime.keyring, stack.environment)
        if shown is None:
            return {"parameters": {}, "parameter_defaults": {}, "resource_registry": {"resources": {}},
                    "event_sinks": [], "encrypted_param_names": []}
        return shown

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

    def _definition(self, body: dict[str, Any], environment: Environment | None = None,
                    adopt: dict | None = None) -> Definition:
        """The definition a create or update request gives; `environment` when the caller
        built it already (a PATCH update merges the stack's own with the request's); `adopt`
        the adopt data of an adopt, whose parameters lie under the request's."""
        source = body.get("template")
        if not isinstance(source, (str, dict)) or not source:
            raise InvalidRequest("the request needs a 'template': the template text or object")
        check_request_fields(body)
        files, parameters = body.get("files") or {}, body.get("parameters") or {}
        env_files = body.get("environment_files") or []
        template = parse_template(source, filename=body.get("template_name") or "template", files=files)
        if environment is None:
            adopted = (adopt or {}).get("environment")
            adopted = adopted.get("parameters") if isinstance(adopted, dict) else None
            environment = request_environment(body.get("environment"), parameters, env_files, files, template,
                                              adopted=adopted if isinstance(adopted, dict) else None)
        shown = environment.shown()
        # The global environment lies under the user's; `stack environment` shows the user's.
        if self.base_environment is not None:
            environment = merge_environments([self.base_environment, environment])
        values = template.validate_parameters(environment.parameters, environment.parameter_defaults)
        # Environment files are merged above; keeping them would keep hidden values in clear.
        kept = {k: v for k, v in files.items() if k not in set(env_files)}
        # A nested stack's parameters given values derived from a secret are secret too (its
        # owner resource's resolution says which: engine.children).
        derived = set(body.get(SECRET_PARAMETERS) or ()) & set(values)
        return Definition(template, environment, values, kept, shown,
                          secret_parameters=frozenset(derived | set(template.hidden_parameters())))

    def validate_resources(self, definition: Definition, stack: Stack | None = None) -> None:
        """Check the resources as Heat does: their types, properties they do not have and the
        attributes templates read; with the `stack` being made, also each property's value
        (resolved from the parameters; a value that needs another resource is checked when
        that resource exists), as Heat's create does. Errors are Heat's "Property error"s."""
        template = definition.template
        names = set(template._functions)  # HOT's or CFN's, for this template's version

        def unresolved(value) -> bool:
            return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in names

        classes = {name: definition.resource_class(self.types, name) for name in template.resources}
        for name, resource in template.resources.items():
            cls = classes[name]
            unknown = [key for key in resource.properties or {} if key not in cls.properties_schema]
            if unknown and not cls.open_properties:
                raise template.error(f"Unknown Property {unknown[0]}",
                                     ("resources", name, "properties"), heading="Property error")
            idle = [key for key in resource.properties or {} if not cls.open_properties
                    and not cls.properties_schema[key].implemented]
            if idle:  # Heat refuses these in template validate too, values or not
                raise template.error(f"Property {idle[0]} not implemented yet",
                                     ("resources", name, "properties"), heading="Property error")
            if hasattr(classes[name], "check_policy"):
                try:
                    classes[name].check_policy(resource.update_policy)
                except TemplateError as error:
                    raise template.error(error.reason, ("resources", name) + error.path, kind=error.kind,
                                         prefix=error.prefix) from None
            for member in getattr(classes[name], "member_types", lambda _: [])(resource.properties):
                try:
                    definition.environment.resolve_type("0", member, self.types)
                except TemplateError as error:
                    raise template.error(error.reason, ("resources", name, "properties", "resource_def", "type"),
                                         kind=error.kind) from None
            if stack is not None and hasattr(classes[name], "check_facade"):
                # Heat checks a provider against the type it stands in for as it validates a
                # stack, not a template alone (template validate).
                try:
                    facade = definition.facade_class(self.types, name)
                except TemplateError as error:
                    raise template.error(error.reason, ("resources", name, "type")) from None
                if facade is not None and facade is not classes[name]:
                    classes[name].check_facade(facade, resource.type)
        for path, target, attribute in _attribute_references(template):
            cls = classes.get(target)
            if cls is not None and not cls.dynamic_attributes and attribute not in cls.attributes_schema:
                raise template.error(f"The Referenced Attribute ({target} {attribute}) is incorrect.",
                                     path)
        if stack is not None:
            self._check_values(definition, stack, classes)

    def _check_values(self, definition: Definition, stack: Stack, classes: dict) -> None:
        template = apply_conditions(definition.template, definition.parameters, stack, self.limits)
        context = ParameterContext(definition.parameters, pseudo_parameters(stack), definition.files,
                                   self.limits)
        later = object()  # a value that needs a resource: checked once that resource exists
        for name, resource in template.resources.items():
            base = ("resources", name, "properties")
            needs = {key for key, snippet in resource.properties.items()
                     if references_resource(template, snippet)}
            try:
                values = template.resolve({k: v for k, v in resource.properties.items()
                                           if k not in needs}, context, base)
                values.update(dict.fromkeys(needs, later))
                schema = getattr(classes[name], "properties_schema", {})
                for key in resource.properties:
                    # A value an `if` left out: Heat names the property it was written under.
                    if key not in values and getattr(schema.get(key), "required", False):
                        raise TemplateError(f"Property {key} not assigned", path=(key,))
                classes[name].check_properties(values, unresolved=lambda value: value is later)
            except TemplateError as error:
                path = error.path if error.file is not None else base + error.path
                # A limit is no property's error: it keeps its own words.
                heading = None if isinstance(error, LimitExceeded) else error.heading or "Property error"
                located = error.located(path=path, file=template.filename, line=template.line_for(path),
                                        heading=heading)
                # A value refused is quoted by the message: never a secret one.
                texts = secrets.secret_texts(definition.parameters.get(k) for k in definition.secret_parameters)
                raise secrets.redacted_error(located, texts) from None

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
        sort_key = {"stack_name": Stack.name, "stack_status": Stack.status, "creation_time": Stack.created_at,
                    "updated_time": Stack.updated_at}.get(_first(filters.get("sort_keys")) or "creation_time")
        if sort_key is None:
            raise InvalidRequest("sort_keys must be one of stack_name, stack_status, creation_time, updated_time")
        q = q.order_by(sort_key.desc() if _first(filters.get("sort_dir")) == "desc" else sort_key, Stack.id)
        with self.runtime.store.session() as session:
            stacks = list(session.scalars(q))
        hidden = {t.strip() for t in self.runtime.config.hidden_stack_tags.split(",") if t.strip()}
        tag_rules = {k: set(parse_tags(filters[k])) for k in ("tags", "tags_any", "not_tags", "not_tags_any")
                     if filters.get(k)}

        def keep(stack: Stack) -> bool:
            tags = set(stack.tags or [])
            if hidden & tags and not _flag(filters.get("show_hidden")):
                return False
            for key, attr in (("name", "name"), ("id", "id"), ("status", "status"), ("action", "action"),
                              ("owner_id", "owner_id")):
                wanted = filters.get(key)
                if wanted and getattr(stack, attr) not in ([wanted] if isinstance(wanted, str) else wanted) \
                        and not (key == "status" and f"{stack.action}_{stack.status}" == wanted):
                    return False
            return all(_tags_match(rule, wanted, tags) for rule, wanted in tag_rules.items())

        result = [s for s in stacks if keep(s)]
        marker = filters.get("marker")
        if marker:
            ids = [s.id for s in result]
            if marker not in ids:
                raise NotFound(f"marker stack '{marker}' not found")
            result = result[ids.index(marker) + 1:]
        if filters.get("limit") not in (None, ""):
            try:
                result = result[:max(int(filters["limit"]), 0)]
            except (TypeError, ValueError):
                raise InvalidRequest("limit must be a whole number") from None
        return [views.stack_summary(s, self.runtime.api_url) for s in result]

    def show_environment(self, project: str, stack_id: str) -> dict:
        """The stack's environment as Heat shows it: as the user gave it (environment files
        merged), hidden parameters' values masked."""
        stack = self.find_stack(project, stack_id, by_id_only=True)
        definition = self.scheduler.definitions.get(self.runtime, stack)
        hidden = _all_hidden(definition)
        shown = self.shown_environment(stack)
        for section in ("parameters", "parameter_defaults"):
            shown[section] = secrets.masked_parameters(shown.get(section) or {}, hidden)
        return shown

    def show_files(self, project: str, stack_id: str) -> dict:
        stack = self.find_stack(project, stack_id, by_id_only=True)
        return dict(self.scheduler.definitions.get(self.runtime, stack).files)

    def find_stack(self, project: str, name_or_id: str, by_id_only: bool = False) -> Stack:
        """A stack by id (deleted ones too, as Heat shows them) or by the name of a live one."""
        with self.runtime.store.session() as session:
            stack = session.get(Stack, name_or_id)
            if stack is None and not by_id_only:
                stack = session.scalar(select(Stack).where(Stack.project == project, Stack.name == name_or_id,
                                                           Stack.deleted_at.is_(None)))
        if stack is None or stack.project != project:
            raise EntityNotFound("Stack", name_or_id)
        return stack

    def show_stack(self, project: str, stack_id: str, resolve_outputs: bool = True) -> dict:
        stack = self.find_stack(project, stack_id, by_id_only=True)
        definition = self.scheduler.definitions.get(self.runtime, stack)
        deleted = (stack.action, stack.status) == ("DELETE", "COMPLETE")
        outputs = self.outputs(stack, definition) if resolve_outputs and not deleted else None
        parameters, hidden = definition.parameters, definition.secret_parameters
        previous = (stack.previous or {}).get("parameters")
        if (stack.action, stack.status) == ("UPDATE", "IN_PROGRESS") and isinstance(previous, dict):
            # Until an update ends, Heat's stack show is the stack it updates from (recorded
            # from Heat 27.0.1: environments/hooks-glob-pre-update); hidden values are sealed.
            parameters, hidden = secrets.open_parameters(self.runtime.keyring, previous)
        return views.stack_detail(stack, self.runtime.api_url, parameters, hidden, outputs)

    def outputs(self, stack: Stack, definition: Definition | None = None,
                derived: set[str] | None = None) -> list[dict]:
        """The stack's outputs resolved, as Heat shows them to the stack's owner: values derived
        from a secret in clear. `derived`, when given, collects the keys of those values."""
        definition = definition or self.scheduler.definitions.get(self.runtime, stack)
        with self.runtime.store.session() as session:
            rows = {r.name: r for r in session.scalars(select(Resource).where(Resource.stack_id == stack.id))}
        resolver = self._row_resolver(stack, definition, rows)
        result = []
        enabled = definition.template.outputs
        # Heat lists an output whose condition is false too, with a null value.
        for key, output in _all_outputs(definition.template).items():
            entry = {"output_key": key, "description": output.description or "No description given",
                     "output_value": None}
            resolver.taint.fresh()
            try:
                if key in enabled:
                    entry["output_value"] = definition.template.resolve(
                        output.value, resolver, ("outputs", key, "value"))
                    if resolver.taint.tainted and derived is not None:
                        derived.add(key)
            except HearthError as error:
                # Heat's output_error is the function's own message, without a location.
                entry["output_error"] = error.reason if isinstance(error, TemplateError) else str(error)
            result.append(entry)
        return result

    def _row_resolver(self, stack: Stack, definition: Definition, rows: dict[str, Resource]) -> Resolver:
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
            resource = self.scheduler.definitions.get(self.runtime, parent).template.resources.get(
                stack.owner_resource)
            if resource is None:
                return None
            return {"metadata": resource.metadata, "deletion_policy": resource.deletion_policy or "Delete",
                    "update_policy": resource.update_policy}.get(kind)
        return facade

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
                for k, o in _all_outputs(template).items()]

    def delete_stack(self, project: str, stack_id: str) -> None:
        stack = self.find_stack(project, stack_id, by_id_only=True)
        if stack.deleted_at is not None:
            raise EntityNotFound("Stack", stack.name)
        now = self.runtime.now()
        with self.runtime.store.session() as session:
            row = session.get(Stack, stack.id, with_for_update=True)
            if row.action == "DELETE" and row.status == "IN_PROGRESS":
                return
            # Heat says when its delete started.
            reason = f"Stack DELETE started at {now.replace(tzinfo=None).isoformat()}"
            row.action, row.status, row.status_reason = "DELETE", "IN_PROGRESS", reason
            row.operation += 1
            row.deadline = now + dt.timedelta(minutes=row.timeout_mins)
            session.add(Event(id=str(uuid.uuid4()), stack_id=row.id, resource_name=row.name,
                              resource_type="OS::Heat::Stack", physical_id=row.id, action="DELETE",
                              status="IN_PROGRESS", reason=reason, created_at=now))
        self.runtime.publish_stack(stack.id)
        self.scheduler.submit(stack.id)

    # Resources and events -----------------------------------------------------------------
    def _resource_views(self, stack: Stack) -> list[tuple[Resource, dict]]:
        """Each resource row of the stack with its API view (required_by derived from all rows)."""
        with self.runtime.store.session() as session:
            rows = list(session.scalars(select(Resource).where(Resource.stack_id == stack.id).order_by(Resource.id)))
            children = {c.id: c for c in session.scalars(select(Stack).where(
                Stack.owner_id == stack.id, Stack.deleted_at.is_(None)))}
        required_by: dict[str, list[str]] = {r.name: [] for r in rows}
        for row in rows:
            for name in row.requires or []:
                required_by.setdefault(name, []).append(row.name)
        return [(r, views.resource_view(r, stack, self.runtime.api_url, required_by[r.name],
                                        nested=None if r.type in REMOTE_STACK_TYPES else children.get(r.physical_id)))
                for r in rows]

    def list_resources(self, project: str, stack_id: str, *, nested_depth: int = 0, with_detail: bool = False,
                       filters: dict | None = None) -> list[dict]:
        """The stack's resources; with nested_depth, those of nested stacks down to that depth,
        each with `parent_resource` naming the resource that owns its stack."""
        stack = self.find_stack(project, stack_id, by_id_only=True)
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
        stack = self.find_stack(project, stack_id, by_id_only=True)
        for row, view in self._resource_views(stack):
            if row.name == name:
                template = self.scheduler.definitions.get(self.runtime, stack).template
                definition = self.scheduler.definitions.get(self.runtime, stack)
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
        if stack is not None and not row.physical_id and not stored and started \
                and row.name in definition.template.resources:
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
        resolver = self._row_resolver(stack, definition, rows)
        properties, path = definition.template.resources[name].properties, ("resources", name, "properties")
        try:
            resolved = definition.template.resolve(properties, resolver, path)
            derived = tainted_properties(definition.template, properties, resolver, path) \
                if resolver.taint.tainted else ()
        except HearthError:
            return {}
        return secrets.masked_paths(resolved, derived) if isinstance(resolved, dict) else {}

    def resource_metadata(self, project: str, stack_id: str, name: str) -> dict:
        """Heat's resource metadata: a server's whole metadata document (deployments,
        os-collect-config; sealed values shown as ******), else the template's Metadata."""
        stack = self.find_stack(project, stack_id, by_id_only=True)
        with self.runtime.store.session() as session:
            row = session.scalar(select(Resource).where(Resource.stack_id == stack.id, Resource.name == name))
            server = session.get(Server, row.physical_id) if row is not None and row.physical_id else None
            if server is not None and server.stack_id == stack.id and server.deleted_at is None:
                return masked(dict(server.metadata_doc or {}))
        if row is None:
            raise ResourceNotFound(name, stack.name)
        template = self.scheduler.definitions.get(self.runtime, stack).template
        return template.resources[name].metadata if name in template.resources else {}

    def show_event(self, project: str, stack_id: str, resource: str, event_id: str) -> dict:
        stack = self.find_stack(project, stack_id, by_id_only=True)
        with self.runtime.store.session() as session:
            event = session.scalar(select(Event).where(Event.id == event_id, Event.stack_id == stack.id,
                                                       Event.resource_name == resource))
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
        definition = self.scheduler.definitions.get(self.runtime, stack)
        resource = definition.template.resources.get(event.resource_name)
        if resource is None:
            return {}
        with self.runtime.store.session() as session:
            rows = {r.name: r for r in session.scalars(select(Resource).where(Resource.stack_id == stack.id))}
        resolver = self._row_resolver(stack, definition, rows)
        path = ("resources", event.resource_name, "properties")
        try:
            resolved = definition.template.resolve(resource.properties, resolver, path)
            # What is derived from a secret is shown as ******, as in the resource's attributes.
            derived = tainted_properties(definition.template, resource.properties, resolver, path) \
                if resolver.taint.tainted else ()
        except HearthError:
            return {}
        return secrets.masked_paths(secrets.masked(resolved), derived) if isinstance(resolved, dict) else {}

    def list_events(self, project: str, stack_id: str, *, marker: str | None = None, limit: int | None = None,
                    sort_dir: str = "asc", wait: float = 0, resource: str | None = None,
                    filters: dict[str, list[str]] | None = None, nested_depth: int = 0) -> list[dict]:
        """The stack's events; `filters` are Heat's resource_status (COMPLETE, ...),
        resource_action (CREATE, ...), resource_name and resource_type, each one value or more;
        with nested_depth, those of its nested stacks down to that depth too, in the order they
        happened (each links to its own stack and to the root one)."""
        stack = self.find_stack(project, stack_id, by_id_only=True)
        if sort_dir not in ("asc", "desc"):
            raise InvalidRequest("sort_dir must be 'asc' or 'desc'")
        limit = min(int(limit or MAX_EVENT_PAGE), MAX_EVENT_PAGE)
        columns = {"resource_status": Event.status, "resource_action": Event.action,
                   "resource_name": Event.resource_name, "resource_type": Event.resource_type}
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
            if resource is not None and not session.scalar(select(Event.id).where(
                    Event.stack_id == stack.id, Event.resource_name == resource).limit(1)):
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
                    return bool(session.scalar(select(func.count()).select_from(Event).where(
                        Event.stack_id == stack.id, Event.seq > after)))
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
                children = list(session.scalars(select(Stack).where(Stack.owner_id.in_(level),
                                                                     Stack.deleted_at.is_(None))))
                # Heat finds nested stacks through their resources: an empty one is not listed.
                filled = set(session.scalars(select(Resource.stack_id).where(
                    Resource.stack_id.in_([c.id for c in children]))))
                found += [c for c in children if c.id in filled]
                level = [c.id for c in children]
        return found


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


def _matches(view: dict, filters: dict) -> bool:
    """Heat's resource list filters: name, status, action, type, id (each one or several)."""
    fields = {"name": "resource_name", "status": None, "action": None, "type": "resource_type",
              "id": "physical_resource_id"}
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


def _all_outputs(template) -> dict:
    """Every output the template declares, those its conditions leave out included."""
    return getattr(template, "_all_outputs", None) or template.outputs


# Calls whose value is another resource's (or the parent resource's): unknown before it exists.
_RESOURCE_CALLS = ("get_resource", "get_attr", "Fn::GetAtt", "resource_facade", "Fn::ResourceFacade")


def references_resource(template, snippet) -> bool:
    """Whether `snippet` holds a call that reads a resource (Ref of a resource included)."""
    if isinstance(snippet, dict):
        if len(snippet) == 1:
            (key, args), = snippet.items()
            if key in _RESOURCE_CALLS or (key == "Ref" and isinstance(args, str) and \
                    template.is_resource(args)):
                return True
        return any(references_resource(template, value) for value in snippet.values())
    if isinstance(snippet, list):
        return any(references_resource(template, item) for item in snippet)
    return False


def _attribute_references(template):
    """(path, resource, attribute) of each get_attr with a literal resource and attribute name."""
    def walk(node, path):
        if isinstance(node, dict):
            key = next(iter(node), None) if len(node) == 1 else None
            args = node[key] if key in ("get_attr", "Fn::GetAtt") else None
            if isinstance(args, list) and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str) \
                    and (key == "get_attr" or len(args) == 2):
                yield path + (key,), args[0], args[1]
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
    return Service(runtime, base_environment=load_environment_dir(config.environment_dir))


def _all_hidden(definition: Definition) -> set[str]:
    """The hidden parameters of the stack's template and of every template in its files."""
    hidden = set(definition.template.hidden_parameters()) | set(definition.secret_parameters)
    for name, text in definition.files.items():
        try:
            hidden |= set(parse_template(text, filename=name).hidden_parameters())
        except Exception:  # noqa: BLE001 - a file that is no template hides nothing
            continue
    return hidden


def load_environment_dir(directory: str):
    """The global environment: every *.yaml/*.yml/*.json file of the directory, merged in name
    order (Heat's /etc/heat/environment.d). None when no directory is set."""
    if not directory:
        return None
    from engine.template import parse_environment
    if not os.path.isdir(directory):
        raise InvalidRequest(f"HEARTH_ENVIRONMENT_DIR '{directory}' is not a directory")
    names = sorted(n for n in os.listdir(directory) if n.endswith((".yaml", ".yml", ".json")))
    environments = []
    for name in names:
        path = os.path.join(directory, name)
        with open(path, encoding="utf-8") as handle:
            environments.append(parse_environment(handle.read(), path))
    return merge_environments(environments) if environments else None

