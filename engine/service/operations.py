"""service.operations, a stack after create: may touch its rows, the scheduler, service.guest.

Update, suspend, resume, check, cancel, abandon, marking resources unhealthy, clearing
breakpoints and signalling a wait-condition handle or a deployment as a user (Heat's
resource-signal call). Each validates, records the operation's start in one transaction and
hands the work to the scheduler, as create does; the definitions and stacks parts it is given
build and find what it acts on.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from sqlalchemy import select

from engine.errors import (
    ActionInProgress,
    Conflict,
    InvalidRequest,
    NotSupported,
    ResourceActionNotSupported,
    ResourceNotFound,
)
from engine.guest.credentials import GuestAuth
from engine.guest.service import GuestService
from engine.limits import check_nested_stack
from engine.orchestration import asked
from engine.orchestration.definitions import (
    Definition,
    check_request_fields,
    definition_fields,
    request_environment,
)
from engine.orchestration.events import resource_event, stack_event
from engine.orchestration.lifecycle import abandon, check_cancel, prepare_rows, start_operation
from engine.orchestration.nested import SECRET_PARAMETERS
from engine.orchestration.scheduler import Scheduler
from engine.runtime import Runtime
from engine.service.definitions import Definitions, parse_tags
from engine.service.scaling import POLICY_TYPES, Scaling
from engine.service.stacks import Stacks
from engine.sinks import records
from engine.store.models import Deployment, Resource, Stack
from engine.template import parse_environment, parse_template
from engine.template.environment import load_environment

ACTIONS = ("suspend", "resume", "check", "cancel_update", "cancel_without_rollback")
# The operations in progress an update takes over (it supersedes them), as Heat's convergence
# engine allows and its functional tests (SimultaneousUpdate*, requires_convergence) check;
# Heat's legacy engine refuses any operation while another is in progress.
PREEMPTED = ("CREATE", "UPDATE")
HOOK_NAMES = ("pre-create", "pre-update", "pre-delete", "post-create", "post-update", "post-delete")
# Resources a user may signal through Heat's resource-signal call, as a guest would.
HANDLE_TYPES = (
    "OS::Heat::WaitConditionHandle",
    "OS::Heat::UpdateWaitConditionHandle",
    "AWS::CloudFormation::WaitConditionHandle",
)
SIGNALLED_TYPES = HANDLE_TYPES + ("OS::Heat::SoftwareDeployment", "OS::Heat::StructuredDeployment")


class Operations:
    """`service.operations`: what is done to a stack after create."""

    def __init__(
        self,
        runtime: Runtime,
        scheduler: Scheduler,
        guest: GuestService,
        definitions: Definitions,
        stacks: Stacks,
        nested_lock: threading.Lock,
    ):
        self.runtime = runtime
        self.scheduler = scheduler
        self.guest = guest
        self.definitions = definitions
        self.stacks = stacks
        self.types = definitions.types
        self._nested_lock = nested_lock  # engine.limits counts a tree's nested stacks in turn
        self.scaling: Scaling | None = None  # set by the service: a scaling policy's signals

    # Update -------------------------------------------------------------------------------
    def update_stack(
        self, project: str, stack_id: str, body: dict[str, Any], *, patch: bool, if_idle: bool = False
    ) -> None:
        """Heat's PUT (patch=False) or PATCH (`--existing`) of a stack; `if_idle` refuses
        (ActionInProgress) to take over an operation in progress (a re-run on changed facts)."""
        stack = self.stacks.live_stack(project, stack_id)
        if stack.action == "SUSPEND":
            raise NotSupported("Updating a stack when it is suspended")
        if stack.action == "DELETE":
            raise NotSupported("Updating a stack when it is deleting")
        if patch and stack.status == "FAILED" and not (stack.previous or {}).get("template"):
            # Heat patches a failed stack onto the template before the failed update; a failed
            # create has none.
            raise NotSupported("PATCH update to non-COMPLETE stack")
        top = stack.owner_id is None
        if top or isinstance(body.get("template"), str):
            # A nested stack's template Hearth made (a group's members) is not one sent.
            self.definitions.check_template_size(body)
        definition = self.update_definition(stack, body, patch)
        if top:
            self.definitions.check_stack_limits(definition)
        self._check_immutable(stack, definition)
        self.definitions.validate_resources(definition, stack)
        if top:
            self.definitions.check_nesting(definition)
        stored = self.definitions.stored_parameters(definition)
        now = self.runtime.now()
        # Nested stacks are counted against their tree as they are stored: one at a time.
        with contextlib.nullcontext() if top else self._nested_lock, self.runtime.store.session() as session:
            row = session.get(Stack, stack.id, with_for_update=True)
            if if_idle and row.status == "IN_PROGRESS":
                raise ActionInProgress(row.name, row.action)
            if not (row.status == "IN_PROGRESS" and row.action in PREEMPTED):
                self._not_in_progress(row, "update")
            if not top:
                check_nested_stack(
                    self.runtime.config, session, row.owner_id, len(definition.template.resources), child_id=row.id
                )
            row.previous = {**definition_fields(row), "disable_rollback": row.disable_rollback}
            row.template = definition.template.raw
            row.template_source = (
                body["template"]
                if isinstance(body.get("template"), str)
                else (row.template_source if patch and not body.get("template") else None)
            )
            if body.get("template_name") or not patch:
                row.template_name = body.get("template_name") or row.template_name
            row.files, row.parameters = definition.files, stored
            row.environment = self.definitions.environment_dict(definition)
            row.description = definition.template.description
            row.timeout_mins = self.definitions.timeout(body.get("timeout_mins"), row.timeout_mins)
            if body.get("timeout_mins") is not None:
                row.requested_timeout_mins = row.timeout_mins
            if "requested_timeout_mins" in body:  # a nested stack shows its parent's timeout
                row.requested_timeout_mins = body["requested_timeout_mins"]
            if body.get("disable_rollback") is not None:
                row.disable_rollback = bool(body["disable_rollback"])
            if body.get("tags") is not None:
                row.tags = parse_tags(body["tags"])
            definition = self.definitions.conditioned(definition, row, self.definitions.limits)
            prepare_rows(session, row.id, definition.template, now)
            start_operation(session, row, "UPDATE", now)
            records.sync(session, self.runtime.keyring, row, definition.environment.event_sinks, now)
            session.flush()
            self.definitions.put(row, definition)
        if top and definition.environment.event_sinks:
            self.runtime.notifier.publish(records.TOPIC)  # delivery loops that knew of no sink
        self.runtime.publish_stack(stack.id)
        self.scheduler.submit(stack.id)

    def _check_immutable(self, stack: Stack, definition: Definition) -> None:
        """An update may not change a parameter the new template declares immutable."""
        current = self.definitions.get(stack).parameters
        changed = [
            name
            for name, schema in definition.template.parameters.items()
            if schema.immutable and name in current and current[name] != definition.parameters.get(name)
        ]
        if changed:
            raise definition.template.error(
                f"The following parameters are immutable and may not be updated: {', '.join(changed)}",
                ("parameters", changed[0]),
                kind="ImmutableParameterModified",
            )

    def update_definition(self, stack: Stack, body: dict[str, Any], patch: bool) -> Definition:
        if not isinstance(body, dict):
            raise InvalidRequest("the request body must be a JSON object")
        if not patch:
            return self.definitions.build(body)
        check_request_fields(body)  # before they are merged with the stack's own
        current = self.definitions.get(stack)
        merged = dict(body)
        # A parameter derived from a secret stays secret while its value is kept.
        merged[SECRET_PARAMETERS] = sorted(set(current.secret_parameters) | set(body.get(SECRET_PARAMETERS) or ()))
        if not body.get("template"):
            merged["template"] = stack.template_source or stack.template
            merged["template_name"] = stack.template_name
        merged["files"] = {**current.files, **(body.get("files") or {})}
        cleared = body.get("clear_parameters") or []
        # Heat's PATCH: the stack's environment as the user gave it, less the cleared
        # parameters, with the request's (environment files merged) loaded over it.
        template = parse_template(
            merged["template"], filename=merged.get("template_name") or "template", files=merged["files"]
        )
        existing = self.definitions.shown_environment(stack)
        existing["parameters"] = {k: v for k, v in (existing.get("parameters") or {}).items() if k not in cleared}
        new = request_environment(
            body.get("environment"),
            body.get("parameters") or {},
            body.get("environment_files") or [],
            merged["files"],
            template,
        )
        environment = parse_environment(load_environment(existing, new.shown()), "environment")
        environment.parameters = {k: v for k, v in environment.parameters.items() if k in template.parameters}
        return self.definitions.build(merged, environment)

    # Actions ------------------------------------------------------------------------------
    def stack_action(self, project: str, stack_id: str, action: str) -> None:
        """Heat's POST .../actions: suspend, resume, check, cancel_update, cancel_without_rollback."""
        if action not in ACTIONS:
            raise InvalidRequest(f"unknown stack action '{action}' (one of: {', '.join(ACTIONS)})")
        stack = self.stacks.live_stack(project, stack_id)
        now = self.runtime.now()
        cancel = False
        with self.runtime.store.session() as session:
            row = session.get(Stack, stack.id, with_for_update=True)
            if action in ("suspend", "resume", "check"):
                self._not_in_progress(row, action)
                verb = action.upper()
                if verb != "CHECK" and (row.action, row.status) == (verb, "COMPLETE"):
                    # Heat: already suspended (resumed); only the stack's event says so again.
                    session.add(stack_event(row, verb, "COMPLETE", row.status_reason, now))
                else:
                    start_operation(session, row, verb, now)
            else:
                check_cancel(row, rollback=action == "cancel_update")
                # What is under way finishes; then the operation fails, and an update rolls back
                # when asked to (or when the stack has rollback enabled), as Heat's cancel does.
                # Stored as well as published: the replica driving the operation next does it too.
                asked.keep(session, row, asked.CANCEL, {"rollback": action == "cancel_update"}, now)
                cancel = True
        self.runtime.publish_stack(stack.id)
        if cancel:
            self.scheduler.cancel(stack.id, rollback=action == "cancel_update")
        else:
            self.scheduler.submit(stack.id)

    def abandon_stack(self, project: str, stack_id: str) -> dict:
        """Forget the stack but leave what it made running; answers what adopt needs."""
        stack = self.stacks.live_stack(project, stack_id)
        data = self._abandon_data(stack)
        now = self.runtime.now()
        with self.runtime.store.session() as session:
            ids = [stack.id]
            for stack_id_ in ids:  # nested stacks are abandoned with their parent
                ids.extend(session.scalars(select(Stack.id).where(Stack.owner_id == stack_id_)))
            for row in session.scalars(select(Stack).where(Stack.id.in_(ids))):
                if row.status == "IN_PROGRESS" and row.id == stack.id:
                    raise ActionInProgress(row.name, row.action)
                abandon(row, now)
        self.runtime.publish_stack(stack.id)
        return data

    def _abandon_data(self, stack: Stack) -> dict:
        from engine.resources.stack_resource import StackResource

        definition = self.definitions.get(stack)
        with self.runtime.store.session() as session:
            rows = list(session.scalars(select(Resource).where(Resource.stack_id == stack.id)))
            children = {c.id: c for c in session.scalars(select(Stack).where(Stack.owner_id == stack.id))}
        template = definition.template
        resources = {}
        for r in rows:
            if issubclass(definition.class_for(self.types, r.name, r.type), StackResource):
                # As Heat's: a nested stack's owner is its nested stack's own abandon data (none
                # when it has no nested stack), which adopt hands to that resource.
                child = children.get(r.physical_id)
                resources[r.name] = self._abandon_data(child) if child is not None else {}
                continue
            resources[r.name] = {
                "name": r.name,
                "type": r.type,
                "resource_id": r.physical_id,
                "action": r.action,
                "status": r.status,
                "metadata": template.resources[r.name].metadata or {} if r.name in template.resources else {},
                # A key set to None is one its handler cleared (Heat deletes it).
                "resource_data": {k: v for k, v in (r.data or {}).items() if v is not None},
            }
        return {
            "name": stack.name,
            "id": stack.id,
            "action": stack.action,
            "status": stack.status,
            "template": template.raw,
            "files": definition.files,
            # As Heat's abandon: the user's environment, in clear (it goes back to its user).
            "environment": {
                k: v for k, v in self.definitions.shown_environment(stack).items() if k != "encrypted_param_names"
            },
            "project_id": stack.project,
            "stack_user_project_id": stack.project,
            "tags": list(stack.tags or []),
            "resources": resources,
        }

    # Resources ----------------------------------------------------------------------------
    def mark_unhealthy(self, project: str, stack_id: str, resource: str, mark: bool, reason: str = "") -> None:
        """Heat's mark-unhealthy: the resource is CHECK_FAILED and the next update replaces it."""
        stack = self.stacks.live_stack(project, stack_id)
        now = self.runtime.now()
        with self.runtime.store.session() as session:
            row = session.get(Stack, stack.id, with_for_update=True)
            self._not_in_progress(row, "mark a resource of")
            res = self._resource_by_name_or_id(session, stack, resource)
            reason = reason or "state changed by resource_mark_unhealthy api"
            if mark and res.action != "DELETE":
                res.action, res.status, res.status_reason = "CHECK", "FAILED", reason
            elif not mark and (res.action, res.status) == ("CHECK", "FAILED"):
                res.status, res.status_reason = "COMPLETE", reason
                scaling = (res.data or {}).get("scaling")
                if isinstance(scaling, dict) and "scaling_in_progress" in scaling:
                    # Heat's handle_metadata_reset: a group stuck scaling may scale again.
                    res.data = {**res.data, "scaling": {**scaling, "scaling_in_progress": False}}
            else:
                return
            res.updated_at = now
            session.add(
                resource_event(
                    stack.id, res.name, res.type, res.physical_id, res.action, res.status, res.status_reason, now
                )
            )
        self.runtime.publish_stack(stack.id)

    @staticmethod
    def _resource_by_name_or_id(session, stack: Stack, resource: str) -> Resource:
        """The stack's resource named `resource`, else the one whose physical id it is (Heat's
        _find_resource_in_stack: mark-unhealthy takes either)."""
        res = session.scalar(select(Resource).where(Resource.stack_id == stack.id, Resource.name == resource))
        if res is not None:
            return res
        matches = list(
            session.scalars(select(Resource).where(Resource.stack_id == stack.id, Resource.physical_id == resource))
        )
        if len(matches) > 1:
            raise InvalidRequest(f"Multiple physical resources were found with physical ID ({resource}).")
        if not matches:
            raise ResourceNotFound(resource, stack.name)
        return matches[0]

    def signal_resource(self, project: str, stack_id: str, resource: str, body: Any) -> None:
        """Heat's resource signal; `{"unset_hook": HOOK}` clears a breakpoint, any other body
        signals a wait-condition handle or a deployment (its result, as the hook's JSON)."""
        stack = self.stacks.live_stack(project, stack_id)
        with self.runtime.store.session() as session:
            res = session.scalar(select(Resource).where(Resource.stack_id == stack.id, Resource.name == resource))
        if res is None:
            raise ResourceNotFound(resource, stack.name)
        if not (isinstance(body, dict) and "unset_hook" in body) and res.type in POLICY_TYPES:
            assert self.scaling is not None
            self.scaling.signal(stack.id, resource, body)
            return
        if not (isinstance(body, dict) and "unset_hook" in body) and res.type in SIGNALLED_TYPES:
            self._signal_as_guest(res, body)
            return
        if not isinstance(body, dict) or "unset_hook" not in body:
            raise ResourceActionNotSupported("signal")
        hook = body["unset_hook"]
        if hook not in HOOK_NAMES:
            raise InvalidRequest(f"'{hook}' is not a hook (one of: {', '.join(HOOK_NAMES)})")
        with self.runtime.store.session() as session:
            row = session.get(Stack, stack.id, with_for_update=True)
            res = session.scalar(select(Resource).where(Resource.stack_id == stack.id, Resource.name == resource))
            if row is None or res is None or (res.engine or {}).get("hook") != hook:
                raise InvalidRequest(f"resource '{resource}' is not paused on hook {hook}")
            # Stored as well as published: the replica driving the operation next clears it too.
            detail = {"resource": resource, "hook": hook}
            asked.keep(session, row, asked.hook_key(hook, resource), detail, self.runtime.now())
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
    @staticmethod
    def _not_in_progress(row: Stack, what: str) -> None:
        """Heat holds a stack's lock for the whole of an operation; another one is refused."""
        if row.status == "IN_PROGRESS":
            raise ActionInProgress(row.name, row.action)
