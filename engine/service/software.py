"""service.software, Heat's software configs and deployments: their rows and server metadata,
published to the notifier; wakes the scheduler.

Heat's `software_configs` and `software_deployments` API: configs and deployments made by a
user (`heat config-create`, `openstack software deployment create`, ...) rather than by a stack.

Shapes follow Heat's format_software_config / format_software_deployment. A deployment made
here lands in its server's metadata like a stack's does, so the server's agent runs it and its
signal (the server's credential on the guest route) completes it. Secrets are never answered:
values stored sealed (signal URLs, passwords, `hidden` inputs) are shown as ******.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select

from engine import secrets, software_formats, views
from engine.errors import Conflict, InvalidRequest, NotFound
from engine.guest import metadata as guest_metadata
from engine.orchestration.scheduler import Scheduler
from engine.runtime import Runtime, iso
from engine.secrets import masked
from engine.store.models import Deployment, SoftwareConfig

CONFIG_KEYS = ("name", "group", "config", "inputs", "outputs", "options")
# What a deployment update may change (Heat's API reads these keys and ignores any other).
UPDATE_KEYS = ("config_id", "input_values", "output_values", "action", "status", "status_reason")
STATUSES = ("IN_PROGRESS", "COMPLETE", "FAILED")


def config_view(row: SoftwareConfig) -> dict:
    """Heat's format_software_config (without `project`, which Heat shows in lists only)."""
    return masked(software_formats.format_config(row))


def _unknown(body: dict, allowed: tuple[str, ...], what: str) -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise InvalidRequest(f"unknown keys in the {what}: {', '.join(unknown)} (allowed: {', '.join(allowed)})")


def _io_list(body: dict, key: str) -> list[dict]:
    items = body.get(key) or []
    if not isinstance(items, list) or not all(isinstance(i, dict) and isinstance(i.get("name"), str) for i in items):
        raise InvalidRequest(f"'{key}' must be a list of maps, each with a 'name'")
    return items


class Software:
    """`service.software`: configs and deployments made through the API."""

    def __init__(self, runtime: Runtime, scheduler: Scheduler):
        self.runtime = runtime
        self.scheduler = scheduler

    # Configs ------------------------------------------------------------------------------
    def create_software_config(self, project: str, body: dict) -> dict:
        _unknown(body, CONFIG_KEYS, "software config")
        name, group = body.get("name") or "", body.get("group")
        if not isinstance(name, str) or (group is not None and not isinstance(group, str)):
            raise InvalidRequest("'name' and 'group' must be strings")
        config = body.get("config")
        if config is not None and not isinstance(config, (str, dict, list)):
            raise InvalidRequest("'config' must be the config text (or a map, for structured groups)")
        options = body.get("options")
        if options is not None and not isinstance(options, dict):
            raise InvalidRequest("'options' must be a map")
        inputs, outputs = _io_list(body, "inputs"), _io_list(body, "outputs")
        with self.runtime.store.session() as session:
            row = software_formats.create_config(
                session,
                name=name,
                group=group,
                config=config,
                inputs=inputs,
                outputs=outputs,
                options=options or {},
                project=project,
                now=self.runtime.now(),
                keyring=self.runtime.keyring,
                secret=secrets.secret_input_names(inputs, []),
            )
            session.flush()
            return config_view(row)

    def list_software_configs(self, project: str, limit: int | None = None, marker: str | None = None) -> list[dict]:
        """Newest first, as Heat pages them (created_at then id, descending); `marker` is the
        last config of the previous page."""
        with self.runtime.store.session() as session:
            rows = list(
                session.scalars(
                    select(SoftwareConfig)
                    .where(SoftwareConfig.project == project)
                    .order_by(SoftwareConfig.created_at.desc(), SoftwareConfig.id.desc())
                )
            )
        if marker:
            ids = [r.id for r in rows]
            if marker not in ids:
                raise NotFound(f"marker software config '{marker}' not found")
            rows = rows[ids.index(marker) + 1 :]
        if limit is not None:
            rows = rows[:limit]
        return [
            {"id": r.id, "name": r.name, "group": r.group, "creation_time": iso(r.created_at), "project": r.project}
            for r in rows
        ]

    def show_software_config(self, project: str, config_id: str) -> dict:
        with self.runtime.store.session() as session:
            return config_view(self._config(session, project, config_id))

    def delete_software_config(self, project: str, config_id: str) -> None:
        with self.runtime.store.session() as session:
            row = self._config(session, project, config_id)
            used = session.scalar(select(Deployment.id).where(Deployment.config_id == row.id))
            if used:
                raise Conflict(
                    f"software config '{config_id}' is used by deployment '{used}': delete the deployment first"
                )
            session.delete(row)

    @staticmethod
    def _config(session, project: str, config_id: str) -> SoftwareConfig:
        row = session.get(SoftwareConfig, config_id)
        if row is None or row.project != project:
            raise NotFound(f"software config '{config_id}' not found")
        return row

    # Deployments --------------------------------------------------------------------------
    def create_software_deployment(self, project: str, body: dict) -> dict:
        """Record the deployment and push it into its server's metadata (as Heat does).

        `server_id` is any id: a server of any stack of the project, a machine enrolled under
        the id, or one no server has yet (its entries wait under the id). Keys other than
        Heat's are ignored, as Heat's API does (heatclient sends `tenant_id`)."""
        server_id, config_id = body.get("server_id"), body.get("config_id")
        if not isinstance(server_id, str) or not 0 < len(server_id) <= software_formats.SERVER_ID_MAX:
            raise InvalidRequest(
                f"'server_id' is required: the id of the server to deploy to, "
                f"of 1 to {software_formats.SERVER_ID_MAX} characters"
            )
        action, status = self._action_status(body, None, None)
        values = body.get("input_values") or {}
        if not isinstance(values, dict):
            raise InvalidRequest("'input_values' must be a map")
        now = self.runtime.now()
        with self.runtime.store.session() as session:
            deployment_id = str(uuid.uuid4())
            # Heat answers 404 for a missing config_id as for an unknown one.
            config = self._config(session, project, config_id if isinstance(config_id, str) else "")
            if config.deployment_id:
                raise Conflict(
                    f"software config '{config_id}' already belongs to deployment "
                    f"'{config.deployment_id}': each deployment needs a config of its own "
                    "(heat deployment-create and openstack software deployment create "
                    "derive one)"
                )
            # The agent signals a run by its config id; this ties the run to the deployment.
            config.deployment_id = deployment_id
            row = Deployment(
                id=deployment_id,
                config_id=config_id,
                server_id=server_id,
                project=project,
                action=action or "",
                status=status or "",
                # Heat stores str() of what it was given: "None" when absent.
                status_reason=str(body.get("status_reason")),
                input_values=values,
                output_values={},
                created_at=now,
            )
            session.add(row)
            session.flush()
            view = views.deployment_view(row)
            metadata = guest_metadata.push_metadata(session, server_id, self.runtime.keyring, project)
        if metadata:
            self.runtime.publish_server(server_id, metadata)
        return view

    def list_software_deployments(self, project: str, server_id: str | None = None) -> list[dict]:
        q = select(Deployment).where(Deployment.project == project, Deployment.config_id.is_not(None))
        if server_id:
            q = q.where(Deployment.server_id == server_id)
        with self.runtime.store.session() as session:
            return [views.deployment_view(r) for r in session.scalars(q.order_by(Deployment.created_at, Deployment.id))]

    def show_software_deployment(self, project: str, deployment_id: str) -> dict:
        with self.runtime.store.session() as session:
            return views.deployment_view(self._deployment(session, project, deployment_id))

    def update_software_deployment(self, project: str, deployment_id: str, body: dict) -> dict:
        """Heat's PUT: any of config_id, input_values, output_values, action, status,
        status_reason; as in Heat, a key that is absent, null or empty changes nothing, and
        others are ignored. A new config is pushed to the server; a finished status wakes
        the stack."""
        body = {k: body[k] for k in UPDATE_KEYS if body.get(k)}
        now = self.runtime.now()
        with self.runtime.store.session() as session:
            row = self._deployment(session, project, deployment_id)
            action, status = self._action_status(body, row.action, row.status)
            for key in ("input_values", "output_values"):
                if key in body and not isinstance(body[key], dict):
                    raise InvalidRequest(f"'{key}' must be a map")
            moved = "config_id" in body and body["config_id"] != row.config_id
            if moved:
                config = self._config(session, project, body["config_id"])
                if config.deployment_id not in (None, row.id):
                    raise Conflict(
                        f"software config '{config.id}' already belongs to deployment '{config.deployment_id}'"
                    )
                config.deployment_id, row.config_id = row.id, config.id
            row.action, row.status = action or "", status or ""
            if "status_reason" in body:
                row.status_reason = str(body["status_reason"])
            if "input_values" in body:
                row.input_values = body["input_values"]
            if "output_values" in body:
                row.output_values = body["output_values"]
            row.updated_at = now
            session.flush()
            view = views.deployment_view(row)
            server_id, stack_id, resource = row.server_id, row.stack_id, row.resource_name
            metadata = (
                guest_metadata.push_metadata(session, server_id, self.runtime.keyring, project) if moved else None
            )
        if metadata:
            self.runtime.publish_server(server_id, metadata)
        if stack_id and status != "IN_PROGRESS":
            self.scheduler.wake(stack_id, resource)
            self.runtime.publish_stack(stack_id)
        return view

    def delete_software_deployment(self, project: str, deployment_id: str) -> None:
        with self.runtime.store.session() as session:
            row = self._deployment(session, project, deployment_id)
            if row.stack_id:
                raise Conflict(
                    f"deployment '{deployment_id}' belongs to resource '{row.resource_name}' "
                    f"of stack '{row.stack_id}': change or delete the stack instead"
                )
            for config in session.scalars(select(SoftwareConfig).where(SoftwareConfig.deployment_id == row.id)):
                config.deployment_id = None  # the config stays, as in Heat; the client deletes it
            server_id = row.server_id
            session.delete(row)
            session.flush()
            metadata = guest_metadata.push_metadata(session, server_id, self.runtime.keyring, project)
        if metadata:
            self.runtime.publish_server(server_id, metadata)

    def deployment_metadata(self, project: str, server_id: str) -> list[dict]:
        """The `deployments` list of `server_id` in this project (Heat's
        metadata_software_deployments), sealed values shown as ******. Whether a server has the
        id does not matter: an id with no deployment answers an empty list, as in Heat."""
        with self.runtime.store.session() as session:
            return masked(guest_metadata.deployment_entries(session, server_id, project))

    @staticmethod
    def _deployment(session, project: str, deployment_id: str) -> Deployment:
        row = session.get(Deployment, deployment_id)
        if row is None or row.project != project:
            raise NotFound(f"software deployment '{deployment_id}' not found")
        return row

    @staticmethod
    def _action_status(body: dict, action: str | None, status: str | None) -> tuple[str | None, str | None]:
        """The action and status a body sets (or the current ones). Heat stores any string (and
        null when absent); Hearth keeps null but refuses a status it could not act on."""
        action, status = body.get("action") or action or None, body.get("status") or status or None
        if action is not None and (not isinstance(action, str) or len(action) > 16):
            raise InvalidRequest("'action' must be a name of at most 16 characters (CREATE, UPDATE, ...)")
        if status is not None and status not in STATUSES:
            raise InvalidRequest(f"'status' must be one of {', '.join(STATUSES)}")
        return action, status
