"""OS::Heat::SoftwareDeployment: owns its Deployment row, derived config row and guest credential,
via `runtime.store`; pushes and publishes its server's metadata; no other I/O.

OS::Heat::SoftwareDeployment: applies a config to a server for each listed action and waits for the
server's signal.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, select

from engine import secrets, software_formats, views
from engine.errors import TemplateError
from engine.guest import credentials, metadata, traces, urls
from engine.guest.transports import heat, zaqar
from engine.resources.base import Done, Resource, UpdateReplace, Waiting
from engine.resources.schema import Prop
from engine.store.models import Deployment, Server, SoftwareConfig, Stack


class SoftwareDeployment(Resource):
    """Runs `config` on `server` for each action listed in `actions` (CREATE, UPDATE, DELETE,
    SUSPEND, RESUME); outputs arrive by the server's signal.

    `server` is any server id, as in Heat: a server of this stack or of another stack of the
    project, a machine enrolled with `hearth server bootstrap`, or an id no server has yet. The
    entry is kept under that id (`GET /v1/{project}/software_deployments/metadata/{id}`) and
    reaches the server of the project that has or later takes the id.

    Every listed action builds a new derived config (a new id the agent keys its work on) with
    `deploy_action` set to the action, pushes the server's metadata and waits for the signal,
    which completes or fails it; nothing polls. An action not listed completes at once. With a
    `component` config (OS::Heat::SoftwareComponent) the component's own actions decide instead.
    DELETE, when listed, runs the config and waits before the deployment is removed. An update
    that changes any property re-runs the config as UPDATE, unless an input declared with
    `replace_on_change` changed value: then the deployment is replaced. `NO_SIGNAL` completes
    as soon as the config is pushed. Attributes: `deploy_stdout`, `deploy_stderr`,
    `deploy_status_code` and every output the config declares (null until signalled).
    """

    type_name = "OS::Heat::SoftwareDeployment"
    dynamic_attributes = True
    properties_schema = {
        "config": Prop("string", "id of the software config to apply", update_allowed=True),
        "server": Prop("string", "id of the server to apply it to", required=True),
        "input_values": Prop("map", "values for the config's inputs", update_allowed=True),
        "actions": Prop(
            "list",
            "actions that run the config",
            default=["CREATE", "UPDATE"],
            allowed=software_formats.ACTIONS,
            update_allowed=True,
        ),
        "name": Prop("string", "name of the derived config; sets the order on the server", update_allowed=True),
        "signal_transport": Prop(
            "string",
            "how the server signals the result (each is a Hearth signal URL; see docs/guest-api.md)",
            default="CFN_SIGNAL",
            allowed=software_formats.SIGNAL_TRANSPORTS,
        ),
    }
    support_status = {"version": "2014.1"}
    attribute_types = {"deploy_stdout": "string", "deploy_stderr": "string", "deploy_status_code": "string"}
    attributes_schema = {
        "deploy_stdout": "standard output of the run",
        "deploy_stderr": "standard error of the run",
        "deploy_status_code": "exit code of the run",
    }

    # What a structured deployment changes ------------------------------------------------
    def empty_config(self) -> Any:
        return ""

    def derive_config(self, config: Any, inputs: list[dict]) -> Any:
        """The config the server receives, given the source's and the derived inputs."""
        return config

    # Verbs -------------------------------------------------------------------------------
    def create(self):
        return self._run("CREATE")

    def update(self):
        if self.state.changed & {"server", "signal_transport"}:
            raise UpdateReplace()  # the scheduler replaces these itself; kept for direct calls
        if not self.state.changed:
            return None
        self._replace_on_change()
        return self._run("UPDATE")

    def suspend(self):
        return self._run("SUSPEND")

    def resume(self):
        return self._run("RESUME")

    def check(self):
        """The deployment record exists, its server (when one has its id) was not deleted, and
        its last run did not fail. A server id no server has yet is no fault (as in Heat)."""
        with self.runtime.store.session() as session:
            row = session.get(Deployment, self.state.physical_id) if self.state.physical_id else None
            server = session.get(Server, row.server_id) if row is not None else None
            if self.state.physical_id and row is None:
                raise self.fail("the deployment record is gone")
            if row is not None and server is not None and server.deleted_at is not None:
                raise self.fail(f"server '{row.server_id}' of the deployment is gone")
            if row is not None and row.status == "FAILED":
                raise self.fail(f"the last {row.action} of the deployment failed: {row.status_reason}")
        return Done(physical_id=self.state.physical_id)

    def delete(self):
        """Run the config as DELETE when listed (and the server is still there), then remove
        the deployment, its derived configs and its credential."""
        with self.runtime.store.session() as session:
            row = session.get(Deployment, self.state.physical_id) if self.state.physical_id else None
            # As Heat (which asks Nova whether the server exists): DELETE runs and is waited
            # for only on a server that is there to run it.
            alive = (
                metadata.target_server(
                    session,
                    row.server_id if row is not None else self.properties.get("server") or "",
                    self.state.project,
                )
                is not None
            )
            source = self._source(session, required=False)
        runs = alive and source is not False and self._triggers("DELETE", source)
        if runs and self.properties.get("signal_transport") != "NO_SIGNAL":
            return self._run("DELETE")
        self._purge()
        return Done()

    def check_waiting(self):
        with self.runtime.store.session() as session:
            row = session.get(Deployment, self.state.physical_id)
            if row is None:
                raise self.fail("the deployment record is gone")
            status, reason, outputs = row.status, row.status_reason, dict(row.output_values or {})
        if status == "IN_PROGRESS":
            return None
        if status == "FAILED":
            raise self.fail(f"Deployment to server failed: {self._redacted(reason)}")
        if self.state.action == "DELETE":
            self._purge()
        return Done(physical_id=self.state.physical_id, attributes=outputs)

    def cancel(self) -> None:
        if not self.state.physical_id:
            return
        with self.runtime.store.session() as session:
            row = session.get(Deployment, self.state.physical_id)
            if row is not None and row.status == "IN_PROGRESS":
                row.status, row.status_reason = "FAILED", "Deployment cancelled."

    def timeout_reason(self) -> str:
        return "Deployment to server timed out: no signal arrived"

    @classmethod
    def left_behind(cls, session, stack_id: str, name: str, known: set[str]) -> str | None:
        """The deployment (its config on the server already) of a create whose engine died
        before the resource recorded it."""
        rows = select(Deployment.id).where(Deployment.stack_id == stack_id, Deployment.resource_name == name)
        return next((i for i in session.scalars(rows.order_by(Deployment.created_at.desc())) if i not in known), None)

    # Running an action -------------------------------------------------------------------
    def _source(self, session, required: bool = True):
        """The source config row; None when `config` is empty; False when it is missing and
        not `required` (a delete goes on without it, as Heat's does)."""
        config_id = self.properties.get("config")
        if not config_id:
            return None
        source = session.get(SoftwareConfig, config_id)
        if source is None:
            if not required:
                return False
            raise self.fail(f"software config '{config_id}' not found")
        return source

    def _triggers(self, action: str, source) -> bool:
        if source and source.group == "component":
            return action in software_formats.component_actions(
                secrets.open_value(self.runtime.keyring, source.body.get("config"))
            )
        return action in (self.properties.get("actions") or [])

    def _outputs_data(self, source) -> dict:
        # Kept so that get_attr can tell a declared output (null until signalled) from a typo.
        return {"outputs": [o.get("name") for o in (source.body.get("outputs") or [])] if source else []}

    def _run(self, action: str):
        props, runtime, now = self.properties, self.runtime, self.runtime.now()
        transport = props["signal_transport"]
        with runtime.store.session() as session:
            source = self._source(session)
            if not self._triggers(action, source):
                return Done(physical_id=self.state.physical_id, data=self._outputs_data(source))
            server_id = self._server_id()
            deployment_id = self.state.physical_id or str(uuid.uuid4())
            entry_id = str(uuid.uuid4())
            data = self._outputs_data(source)
            principal = None
            if transport in software_formats.CREDENTIAL_TRANSPORTS:
                principal, data["principal"] = self._principal(session, deployment_id, now)
            signal_url = None
            if transport != "NO_SIGNAL":
                signal_url = credentials.presign(
                    runtime.keyring,
                    runtime.public_url,
                    software_formats.SIGNAL_VERBS[transport],
                    urls.deployment_signal_path(entry_id),
                    now,
                    runtime.config.presigned_url_ttl,
                )
            base = software_formats.deploy_inputs(
                server_id=server_id,
                action=action,
                stack_name=self.state.stack_name,
                stack_id=self.state.stack_id,
                resource_name=self.state.name,
                transport=transport,
                signal_url=signal_url,
                principal=principal,
            )
            values = props.get("input_values") or {}
            inputs = software_formats.derived_inputs(source, values, base, runtime.keyring)
            secret = secrets.secret_input_names(inputs, self._hidden_values(session), self._tainted_inputs(values))
            body = source.body if source else {}
            derived = secrets.is_sealed(body.get("config"))  # the source's config is a secret
            config = secrets.open_value(runtime.keyring, body.get("config"))
            software_formats.create_config(
                session,
                name=props.get("name") or (source.name if source else None) or self._physical_name(deployment_id),
                group=source.group if source and source.group else "Heat::Ungrouped",
                config=self.derive_config(config, inputs) or self.empty_config(),
                inputs=inputs,
                outputs=body.get("outputs") or [],
                options=body.get("options"),
                project=self.state.project,
                now=now,
                deployment_id=deployment_id,
                config_id=entry_id,
                keyring=runtime.keyring,
                secret=secret,
                derived=derived,
            )
            row = session.get(Deployment, deployment_id)
            if row is None:
                row = Deployment(
                    id=deployment_id,
                    server_id=server_id,
                    stack_id=self.state.stack_id,
                    resource_name=self.state.name,
                    project=self.state.project,
                    created_at=now,
                )
                session.add(row)
            else:
                row.updated_at = now  # as Heat: a first run has a creation time alone
            previous = row.config_id
            row.config_id, row.action = entry_id, action
            row.input_values = secrets.seal_keys(runtime.keyring, values, secret)
            row.output_values = {}
            if transport == "NO_SIGNAL":
                row.status, row.status_reason = "COMPLETE", "Not waiting for outputs signal"
            else:
                row.status, row.status_reason = "IN_PROGRESS", "Deploy data available"
            session.flush()
            if previous:
                session.execute(delete(SoftwareConfig).where(SoftwareConfig.id == previous))
            trace = traces.record_entry(
                session,
                entry_id=entry_id,
                deployment_id=deployment_id,
                server_id=server_id,
                project=self.state.project,
                stack_id=self.state.stack_id,
                resource_name=self.state.name,
                action=action,
                status=row.status,
                now=now,
            )
            published = metadata.push_metadata(session, server_id, runtime.keyring, self.state.project)
            trace.metadata_version = published[0] if published else None
            queue = zaqar.queue_of(published[1]) if published else None
            if queue:  # ZAQAR_MESSAGE: a progress event says the entry is on the server's queue
                session.add(
                    zaqar.queued_event(
                        self.state.stack_id, self.state.name, deployment_id, action, queue, published[0], now
                    )
                )
        if published:
            runtime.publish_server(server_id, published)
        if transport == "NO_SIGNAL":
            return Done(physical_id=deployment_id, data=data)
        return Waiting(physical_id=deployment_id, data=data)

    def _server_id(self) -> str:
        """The `server` property: any id (Heat's "normally a Nova server ID"), up to the 36
        characters Heat's store holds (a longer one fails there with a database error)."""
        server_id = self.properties["server"]
        if not server_id or len(server_id) > software_formats.SERVER_ID_MAX:
            raise self.fail(f"server id '{server_id}' must have 1 to {software_formats.SERVER_ID_MAX} characters")
        return server_id

    def _tainted_inputs(self, values: dict) -> set[str]:
        """The input values resolved from a secret (taint tracking, engine.secrets)."""
        return {name for name in values if self.derived_from_secret("input_values", name)}

    def _hidden_values(self, session) -> list[str]:
        """The text of the hidden parameter values of this stack and the stacks above it: an
        input holding one is a secret (stored encrypted, kept out of messages)."""
        texts, stack_id, seen = [], self.state.stack_id, set()
        while stack_id and stack_id not in seen:
            seen.add(stack_id)
            stack = session.get(Stack, stack_id)
            if stack is None:
                break
            texts += secrets.sealed_texts(self.runtime.keyring, stack.parameters or {})
            stack_id = stack.owner_id
        return texts

    def _redacted(self, reason: str) -> str:
        """A failure reason with the deployment's secret input values masked: a hook that
        echoes its inputs must not put a password into events and `stack show`."""
        with self.runtime.store.session() as session:
            row = session.get(Deployment, self.state.physical_id)
            texts = _sealed_input_texts(self.runtime, session, row)
        return secrets.redact(reason or "", texts)

    def _physical_name(self, deployment_id: str) -> str:
        return f"{self.state.stack_name}-{self.state.name}-{deployment_id[:12]}"

    def _principal(self, session, deployment_id: str, now) -> tuple[software_formats.SignalPrincipal, str]:
        """The deployment's own guest credential, made on first use and kept encrypted in the
        resource data so that later actions hand the same one out (Heat keeps its stack user).

        HEAT_SIGNAL and ZAQAR_SIGNAL present it to Hearth's guest Keystone
        (engine/guest/transports/heat.py): `auth_url` is that Keystone and `user_id` the
        credential's id; ZAQAR_SIGNAL's queue is named to fit Zaqar (transports/zaqar.py)."""
        keyring = self.runtime.keyring
        sealed = self.state.data.get("principal")
        if sealed:
            secret = secrets.open_text(keyring, sealed)
        else:
            secret = credentials.issue(
                session,
                kind="deployment",
                subject_id=deployment_id,
                stack_id=self.state.stack_id,
                now=now,
                ttl_seconds=self.runtime.config.credential_ttl,
            )
            sealed = secrets.seal_text(keyring, secret)
        name = self._physical_name(deployment_id)
        session.flush()  # a credential issued just now is found by its hash
        return software_formats.SignalPrincipal(
            auth_url=heat.auth_url(self.runtime),
            username=name,
            user_id=heat.credential_id(session, secret),
            password=secret,
            project_id=self.state.project,
            queue_id=zaqar.deployment_queue(self.state.stack_name, self.state.name, deployment_id),
        ), sealed

    def _replace_on_change(self) -> None:
        """Heat's rule: an input declared `replace_on_change` whose value changed replaces the
        deployment instead of updating it."""
        if not self.state.physical_id:
            return
        with self.runtime.store.session() as session:
            row = session.get(Deployment, self.state.physical_id)
            old = session.get(SoftwareConfig, row.config_id) if row is not None and row.config_id else None
            source = self._source(session)
        if old is None or source is None:
            return
        keyring = self.runtime.keyring
        before = {i.get("name"): i.get("value") for i in secrets.open_inputs(keyring, old.body.get("inputs") or [])}
        for item in software_formats.derived_inputs(source, self.properties.get("input_values") or {}, [], keyring):
            name = item.get("name")
            if item.get("replace_on_change") and name in before and before[name] != item.get("value"):
                raise UpdateReplace(f"input '{name}' is replace_on_change and its value changed")

    def _purge(self) -> None:
        deployment_id = self.state.physical_id
        if not deployment_id:
            return
        with self.runtime.store.session() as session:
            credentials.revoke_subject(session, deployment_id, self.runtime.now())
            row = session.get(Deployment, deployment_id)
            if row is None:
                return
            server_id = row.server_id
            session.execute(delete(SoftwareConfig).where(SoftwareConfig.deployment_id == row.id))
            traces.forget_deployment(session, row.id)
            session.delete(row)
            session.flush()
            published = metadata.push_metadata(session, server_id, self.runtime.keyring, self.state.project)
        if published:
            self.runtime.publish_server(server_id, published)

    # Reading -----------------------------------------------------------------------------
    @classmethod
    def attribute(cls, runtime, name, physical_id, attributes, data):
        """An output value; null for a declared output not signalled yet; an undeclared name is
        an error, as in Heat (InvalidTemplateAttribute)."""
        if name is None:
            return dict(attributes)
        if name in attributes:
            return attributes[name]
        if name == "show":
            # The deployment as the software_deployments API shows it, as Heat's `show` is.
            if not physical_id:
                return None
            with runtime.store.session() as session:
                row = session.get(Deployment, physical_id)
                if row is None:
                    return None
                # What the hook printed may echo a secret input: masked, as in failure reasons.
                texts = _sealed_input_texts(runtime, session, row)
                view = views.deployment_view(row)
            if view.get("output_values"):
                view["output_values"] = {
                    k: secrets.redact(v, texts) if isinstance(v, str) else v for k, v in view["output_values"].items()
                }
            if isinstance(view.get("status_reason"), str):
                view["status_reason"] = secrets.redact(view["status_reason"], texts)
            return view
        declared = data.get("outputs")
        if declared is not None and name not in declared and name not in software_formats.OUTPUT_KEYS:
            known = ", ".join(list(software_formats.OUTPUT_KEYS) + list(declared))
            raise TemplateError(
                f"the deployment has no attribute '{name}': its config declares no such output (attributes: {known})"
            )
        return None


def _sealed_input_texts(runtime, session, row: Deployment | None) -> list[str]:
    """The text forms of the deployment's secret input values (stored sealed), to mask."""
    config = session.get(SoftwareConfig, row.config_id) if row is not None and row.config_id else None
    return secrets.input_texts(runtime.keyring, config.body.get("inputs")) if config else []
