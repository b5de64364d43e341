"""Stack operations after create: update (and its preview), suspend, resume, check, cancel,
abandon, marking resources unhealthy, clearing breakpoints and signalling a wait-condition handle
or a deployment as a user (Heat's resource-signal call).

Each validates, records the operation's start in one transaction and hands the work to the
scheduler, as create does. Mixed into engine.service.Service.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from engine import secrets, views
from engine.children import SECRET_PARAMETERS
from engine.errors import Conflict, InvalidRequest, NotFound
from engine.guest import GuestAuth
from engine.stacks import (
    Definition, begin_rollback, definition_fields, prepare_rows, request_environment, start_operation,
)
from engine.steps import changed_in_place, property_digests
from engine.store.models import Deployment, Event, Resource, Stack
from engine.template import parse_environment, parse_template
from engine.template.environment import load_environment

ACTIONS = ("suspend", "resume", "check", "cancel_update", "cancel_without_rollback")
HOOK_NAMES = ("pre-create", "pre-update", "pre-delete", "post-create", "post-update", "post-delete")
# Resources a user may signal through Heat's resource-signal call, as a guest would.
HANDLE_TYPES = ("OS::Heat::WaitConditionHandle", "OS::Heat::UpdateWaitConditionHandle",
                "AWS::CloudFormation::WaitConditionHandle")
SIGNALLED_TYPES = HANDLE_TYPES + ("OS::Heat::SoftwareDeployment", "OS::Heat::StructuredDeployment")


class Operations:
    # Provided by Service.
    runtime: Any
    guest: Any
    scheduler: Any
    types: dict

    # Update -------------------------------------------------------------------------------
    def update_stack(self, project: str, stack_id: str, body: dict[str, Any], *, patch: bool) -> None:
        """Heat's PUT (patch=False) or PATCH (`--existing`) of a stack."""
        stack = self._live_stack(project, stack_id)
        definition = self._update_definition(stack, body, patch)
        self._check_immutable(stack, definition)
        self.validate_resources(definition, stack)
        stored = self._stored_parameters(definition)
        now = self.runtime.now()
        with self.runtime.store.session() as session:
            row = session.get(Stack, stack.id, with_for_update=True)
            self._not_in_progress(row, "update")
            row.previous = definition_fields(row)
            row.template = definition.template.raw
            row.template_source = body["template"] if isinstance(body.get("template"), str) else (
                row.template_source if patch and not body.get("template") else None)
            if body.get("template_name") or not patch:
                row.template_name = body.get("template_name") or row.template_name
            row.files, row.parameters = definition.files, stored
            row.environment = self._environment_dict(definition)
            row.description = definition.template.description
            row.timeout_mins = self._timeout(body.get("timeout_mins"), row.timeout_mins)
            if body.get("timeout_mins") is not None:
                row.requested_timeout_mins = row.timeout_mins
            if "requested_timeout_mins" in body:  # a nested stack shows its parent's timeout
                row.requested_timeout_mins = body["requested_timeout_mins"]
            if body.get("disable_rollback") is not None:
                row.disable_rollback = bool(body["disable_rollback"])
            if body.get("tags") is not None:
                row.tags = parse_tags(body["tags"])
            definition = self.conditioned(definition, row)
            prepare_rows(session, row.id, definition.template, now)
            start_operation(session, row, "UPDATE", now)
            session.flush()
            self.scheduler.definitions.put(row, definition)
        self.runtime.publish_stack(stack.id)
        self.scheduler.submit(stack.id)

    def _check_immutable(self, stack: Stack, definition: Definition) -> None:
        """An update may not change a parameter the new template declares immutable."""
        current = self.scheduler.definitions.get(self.runtime, stack).parameters
        changed = [name for name, schema in definition.template.parameters.items()
                   if schema.immutable and name in current
                   and current[name] != definition.parameters.get(name)]
        if changed:
            raise definition.template.error(
                "The following parameters are immutable and may not be updated: "
                f"{', '.join(changed)}", ("parameters", changed[0]),
                kind="ImmutableParameterModified")

    def _update_definition(self, stack: Stack, body: dict[str, Any], patch: bool) -> Definition:
        if not isinstance(body, dict):
            raise InvalidRequest("the request body must be a JSON object")
        if not patch:
            return self._definition(body)
        current = self.scheduler.definitions.get(self.runtime, stack)
        merged = dict(body)
        # A parameter derived from a secret stays secret while its value is kept.
        merged[SECRET_PARAMETERS] = sorted(set(current.secret_parameters) | set(body.get(SECRET_PARAMETERS) or ()))
        if not body.get("template"):
            merged["template"] = stack.template_source or stack.template
            merged["template_name"] = stack.template_name
        merged["files"] = {**current.files, **(body.get("files") or {})}
        cleared = body.get("clear_parameters") or []
        if not isinstance(cleared, list):
            raise InvalidRequest("'clear_parameters' must be a list of parameter names")
        # Heat's PATCH: the stack's environment as the user gave it, less the cleared
        # parameters, with the request's (environment files merged) loaded over it.
        template = parse_template(merged["template"], filename=merged.get("template_name") or "template",
                                  files=merged["files"])
        existing = self.shown_environment(stack)
        existing["parameters"] = {k: v for k, v in (existing.get("parameters") or {}).items() if k not in cleared}
        new = request_environment(body.get("environment"), body.get("parameters") or {},
                                  body.get("environment_files") or [], merged["files"], template)
        environment = parse_environment(load_environment(existing, new.shown()), "environment")
        environment.parameters = {k: v for k, v in environment.parameters.items() if k in template.parameters}
        return self._definition(merged, environment)

    def preview_update(self, project: str, stack_id: str, body: dict[str, Any], *, patch: bool) -> dict:
        """What an update would do, resource by resource, as Heat's preview answers it."""
        stack = self._live_stack(project, stack_id)
        definition = self._update_definition(stack, body, patch)
        self.validate_resources(definition)
        with self.runtime.store.session() as session:
            rows = {r.name: r for r in session.scalars(select(Resource).where(Resource.stack_id == stack.id))}
        changes: dict[str, list] = {k: [] for k in ("added", "deleted", "replaced", "unchanged", "updated")}
        resolver = self._row_resolver(stack, definition, rows)
        template = definition.template
        for name, resource in template.resources.items():
            row = rows.get(name)
            kind = "added"
            if row is not None and row.action != "INIT" and not (row.action == "DELETE" and row.status == "COMPLETE"):
                kind = self._change_kind(definition, name, row, resolver)
            changes[kind].append(self._preview_entry(stack, name, resource.type, row))
        for name, row in rows.items():
            if name not in template.resources and row.action != "INIT":
                changes["deleted"].append(self._preview_entry(stack, name, row.type, row))
        return {"resource_changes": changes}

    def _change_kind(self, definition: Definition, name: str, row: Resource, resolver) -> str:
        template = definition.template
        resource = template.resources[name]
        try:
            cls = definition.resource_class(self.types, name)
            if row.status == "FAILED" or cls.replace_on_every_update:
                return "replaced"
            properties = cls.check_properties(template.resolve(resource.properties, resolver,
                                                               ("resources", name, "properties")))
            metadata = template.resolve(resource.metadata, resolver, ("resources", name, "metadata"))
        except Exception:  # noqa: BLE001 - depends on something not there yet: it will change
            return "updated"
        digests = property_digests(self.runtime.keyring, cls.type_name or resource.type, properties, metadata)
        old = (row.engine or {}).get("digests") or {}
        changed = {k for k in digests.keys() | old.keys() if digests.get(k) != old.get(k)}
        if not changed or cls.ignores_changes and "__type__" not in changed:
            return "unchanged"
        return "updated" if changed_in_place(cls, changed, properties) else "replaced"

    def _preview_entry(self, stack: Stack, name: str, type_name: str, row: Resource | None) -> dict:
        return {"resource_name": name, "resource_type": type_name, "stack_name": stack.name,
                "physical_resource_id": (row.physical_id if row is not None else None) or "",
                "resource_action": row.action if row is not None else "INIT",
                "resource_status": row.status if row is not None else "COMPLETE",
                "stack_identity": {"stack_name": stack.name, "stack_id": stack.id,
                                   "tenant": stack.project, "path": ""}}

    def preview_create(self, project: str, body: dict[str, Any]) -> dict:
        """What a create would make, as Heat's stack preview answers it (nothing is stored)."""
        name = self._stack_name(body)
        definition = self._definition(body)
        self.validate_resources(definition)
        template = definition.template
        resources = [{"resource_name": n, "resource_type": r.type, "logical_resource_id": n,
                      "resource_action": "INIT", "resource_status": "COMPLETE", "stack_name": name,
                      "physical_resource_id": "", "properties": r.properties, "metadata": r.metadata,
                      "description": r.description, "required_by": sorted(
                          d for d, deps in template.dependencies().items() if n in deps)}
                     for n, r in template.resources.items()]
        return {"stack": {"stack_name": name, "id": "None", "description": template.description,
                          "template_description": template.description,
                          "parameters": secrets.masked_parameters(definition.parameters,
                                                                  template.hidden_parameters()),
                          "timeout_mins": body.get("timeout_mins"),
                          "disable_rollback": bool(body.get("disable_rollback", True)),
                          "resources": resources}}

    # Actions ------------------------------------------------------------------------------
    def stack_action(self, project: str, stack_id: str, action: str) -> None:
        """Heat's POST .../actions: suspend, resume, check, cancel_update, cancel_without_rollback."""
        if action not in ACTIONS:
            raise InvalidRequest(f"unknown stack action '{action}' (one of: {', '.join(ACTIONS)})")
        stack = self._live_stack(project, stack_id)
        now = self.runtime.now()
        previous = None
        if action == "cancel_update" and stack.previous and "template" in stack.previous:
            previous = self.scheduler.definitions.parse_previous(self.runtime, stack)
        with self.runtime.store.session() as session:
            row = session.get(Stack, stack.id, with_for_update=True)
            state = f"{row.action}_{row.status}"
            if action in ("suspend", "check"):
                self._not_in_progress(row, action)
                start_operation(session, row, action.upper(), now)
            elif action == "resume":
                if row.action not in ("SUSPEND", "RESUME") or row.status == "IN_PROGRESS":
                    raise Conflict(f"stack '{row.name}' is {state}; only a suspended stack can be resumed")
                start_operation(session, row, "RESUME", now)
            elif action == "cancel_update":
                if (row.action, row.status) != ("UPDATE", "IN_PROGRESS"):
                    raise Conflict(f"stack '{row.name}' is {state}; only an update in progress can be "
                                   "cancelled with a rollback")
                begin_rollback(session, row, previous, now)
            else:
                if row.status != "IN_PROGRESS" or row.action not in ("CREATE", "UPDATE", "ROLLBACK"):
                    raise Conflict(f"stack '{row.name}' is {state}; there is nothing to cancel")
                reason = f"Stack {row.action} cancelled"
                row.status, row.status_reason, row.deadline = "FAILED", reason, None
                row.operation += 1
                row.updated_at = now
                session.add(Event(id=views.new_id(), stack_id=row.id, resource_name=row.name,
                                  resource_type="OS::Heat::Stack", physical_id=row.id,
                                  action=row.action, status="FAILED", reason=reason, created_at=now))
        self.runtime.publish_stack(stack.id)
        self.scheduler.submit(stack.id)

    def abandon_stack(self, project: str, stack_id: str) -> dict:
        """Forget the stack but leave what it made running; answers what adopt needs."""
        stack = self._live_stack(project, stack_id)
        data = self._abandon_data(stack)
        now = self.runtime.now()
        with self.runtime.store.session() as session:
            ids = [stack.id]
            for stack_id_ in ids:  # nested stacks are abandoned with their parent
                ids.extend(session.scalars(select(Stack.id).where(Stack.owner_id == stack_id_)))
            for row in session.scalars(select(Stack).where(Stack.id.in_(ids))):
                if row.status == "IN_PROGRESS" and row.id == stack.id:
                    raise Conflict(f"stack '{row.name}' is {row.action}_IN_PROGRESS; wait for it first")
                row.action, row.status, row.status_reason = "ABANDON", "COMPLETE", "Stack abandoned"
                row.operation += 1
                row.deleted_at = row.updated_at = now
        self.runtime.publish_stack(stack.id)
        return data

    def _abandon_data(self, stack: Stack) -> dict:
        definition = self.scheduler.definitions.get(self.runtime, stack)
        with self.runtime.store.session() as session:
            rows = list(session.scalars(select(Resource).where(Resource.stack_id == stack.id)))
        resources = {r.name: {"name": r.name, "type": r.type, "resource_id": r.physical_id,
                              "action": r.action, "status": r.status,
                              "metadata": {}, "resource_data": dict(r.data or {}),
                              "attributes": dict(r.attributes or {})} for r in rows}
        return {"name": stack.name, "id": stack.id, "action": stack.action, "status": stack.status,
                "template": definition.template.raw, "files": definition.files,
                "environment": dict(stack.environment or {}), "project_id": stack.project,
                "stack_user_project_id": stack.project, "tags": list(stack.tags or []),
                "resources": resources}

    # Resources ----------------------------------------------------------------------------
    def mark_unhealthy(self, project: str, stack_id: str, resource: str, mark: bool, reason: str = "") -> None:
        """Heat's mark-unhealthy: the resource is CHECK_FAILED and the next update replaces it."""
        stack = self._live_stack(project, stack_id)
        now = self.runtime.now()
        with self.runtime.store.session() as session:
            row = session.get(Stack, stack.id, with_for_update=True)
            self._not_in_progress(row, "mark a resource of")
            res = session.scalar(select(Resource).where(Resource.stack_id == stack.id, Resource.name == resource))
            if res is None:
                raise NotFound(f"stack '{stack.name}' has no resource '{resource}'")
            if mark:
                res.action, res.status = "CHECK", "FAILED"
                res.status_reason = reason or "marked unhealthy"
            elif (res.action, res.status) == ("CHECK", "FAILED"):
                res.status, res.status_reason = "COMPLETE", reason or "marked healthy"
            else:
                return
            res.updated_at = now
            session.add(Event(id=views.new_id(), stack_id=stack.id, resource_name=res.name,
                              resource_type=res.type, physical_id=res.physical_id, action=res.action,
                              status=res.status, reason=res.status_reason, created_at=now))
        self.runtime.publish_stack(stack.id)

    def signal_resource(self, project: str, stack_id: str, resource: str, body: Any) -> None:
        """Heat's resource signal; `{"unset_hook": HOOK}` clears a breakpoint, any other body
        signals a wait-condition handle or a deployment (its result, as the hook's JSON)."""
        stack = self._live_stack(project, stack_id)
        with self.runtime.store.session() as session:
            res = session.scalar(select(Resource).where(Resource.stack_id == stack.id, Resource.name == resource))
        if res is None:
            raise NotFound(f"stack '{stack.name}' has no resource '{resource}'")
        if not (isinstance(body, dict) and "unset_hook" in body) and res.type in SIGNALLED_TYPES:
            self._signal_as_guest(res, body)
            return
        if not isinstance(body, dict) or "unset_hook" not in body:
            raise InvalidRequest(f"resource '{resource}' ({res.type}) takes no signal through this "
                                 "API; send {\"unset_hook\": \"pre-create\"} to clear a breakpoint")
        hook = body["unset_hook"]
        if hook not in HOOK_NAMES:
            raise InvalidRequest(f"'{hook}' is not a hook (one of: {', '.join(HOOK_NAMES)})")
        if (res.engine or {}).get("hook") != hook:
            raise InvalidRequest(f"resource '{resource}' is not paused on hook {hook}")
        self.scheduler.unset_hook(stack.id, resource, hook)

    def _signal_as_guest(self, res: Resource, body: Any) -> None:
        """A handle's or a deployment's signal sent by a user of its project, as Heat takes it
        through the API: the same rules as the guest's own signal, without a guest credential."""
        auth = GuestAuth(operator="orchestration API")
        if not res.physical_id:
            raise Conflict(f"resource '{res.name}' has not been created yet: nothing to signal")
        if res.type in HANDLE_TYPES:
            self.guest.signal_handle(auth, res.physical_id, body, "")
            return
        with self.runtime.store.session() as session:
            row = session.get(Deployment, res.physical_id)
            entry_id = row.config_id if row is not None else None
        if entry_id is None:
            raise Conflict(f"deployment '{res.name}' has no run waiting for a signal")
        self.guest.signal_deployment(auth, entry_id, body if body is not None else {})

    # Shared -------------------------------------------------------------------------------
    def _live_stack(self, project: str, stack_id: str) -> Stack:
        stack = self.find_stack(project, stack_id, by_id_only=True)
        if stack.deleted_at is not None:
            raise NotFound(f"stack '{stack.name}' is deleted")
        return stack

    @staticmethod
    def _not_in_progress(row: Stack, what: str) -> None:
        if row.status == "IN_PROGRESS":
            raise Conflict(f"cannot {what} stack '{row.name}' while it is {row.action}_IN_PROGRESS; "
                           "wait for it to finish or cancel it")


def parse_tags(value: Any) -> list[str]:
    """Heat takes tags as a comma-separated string (and clients sometimes send a list)."""
    if isinstance(value, str):
        return [t.strip() for t in value.split(",") if t.strip()]
    if isinstance(value, list) and all(isinstance(t, str) for t in value):
        return [t.strip() for t in value if t.strip()]
    raise InvalidRequest("'tags' must be a comma-separated string of tags")
