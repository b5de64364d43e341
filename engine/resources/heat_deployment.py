"""OS::Heat::SoftwareDeployment: applies a config to a server and waits for the server's signal."""
from __future__ import annotations

import uuid

from sqlalchemy import delete

from engine import credentials, software
from engine.resources.base import Done, Resource, Waiting
from engine.resources.schema import Prop
from engine.store.models import Deployment, Server, SoftwareConfig


class SoftwareDeployment(Resource):
    """Runs `config` on `server` for each listed action; outputs arrive by the server's signal.

    Every action builds a new derived config (a new id the agent keys its work on), pushes the
    server's metadata and returns Waiting. The signal completes or fails it; nothing polls.
    """

    type_name = "OS::Heat::SoftwareDeployment"
    dynamic_attributes = True
    properties_schema = {
        "config": Prop("string", "id of the software config to apply", update_allowed=True),
        "server": Prop("string", "id of the server to apply it to", required=True),
        "input_values": Prop("map", "values for the config's inputs", update_allowed=True),
        "actions": Prop("list", "actions that run the config", default=["CREATE", "UPDATE"],
                        item=Prop("string", allowed=software.ACTIONS), update_allowed=True),
        "name": Prop("string", "name of the derived config; sets the order on the server",
                     update_allowed=True),
        "signal_transport": Prop("string", "how the server signals the result",
                                 default="CFN_SIGNAL", allowed=software.SIGNAL_TRANSPORTS),
    }
    attributes_schema = {"deploy_stdout": "standard output of the run",
                         "deploy_stderr": "standard error of the run",
                         "deploy_status_code": "exit code of the run"}

    def create(self):
        return self._deploy("CREATE")

    def _deploy(self, action: str):
        props = self.properties
        if action not in (props.get("actions") or []):
            return Done(physical_id=self.state.physical_id)
        runtime, now = self.runtime, self.runtime.now()
        deployment_id = self.state.physical_id or str(uuid.uuid4())
        transport = props["signal_transport"]
        with runtime.store.session() as session:
            source = None
            if props.get("config"):
                source = session.get(SoftwareConfig, props["config"])
                if source is None:
                    raise self.fail(f"software config '{props['config']}' not found")
            server = session.get(Server, props["server"])
            if server is None or server.deleted_at is not None:
                raise self.fail(f"server '{props['server']}' not found: a deployment needs a server "
                                "made by Hearth (OS::Nova::Server or OS::Heat::DeployedServer)")
            entry_id = str(uuid.uuid4())
            signal_url = credentials.presign(
                runtime.keyring, runtime.public_url, "POST", f"/guest/v1/deployments/{entry_id}/signal",
                int(now.timestamp()) + runtime.config.presigned_url_ttl)
            base = software.deploy_inputs(
                server_id=server.id, action=action, stack_name=self.state.stack_name,
                stack_id=self.state.stack_id, resource_name=self.state.name, transport=transport,
                signal_url=signal_url)
            values = props.get("input_values") or {}
            software.create_config(
                session, name=props.get("name") or (source.name if source else None)
                or f"{self.state.stack_name}-{self.state.name}",
                group=source.group if source else "Heat::Ungrouped",
                config=source.body.get("config") if source else "",
                inputs=software.derived_inputs(source, values, base),
                outputs=source.body.get("outputs") if source else [],
                options=source.body.get("options") if source else None,
                project=self.state.project, now=now, deployment_id=deployment_id,
                config_id=entry_id)
            row = session.get(Deployment, deployment_id)
            if row is None:
                row = Deployment(id=deployment_id, server_id=server.id, stack_id=self.state.stack_id,
                                 resource_name=self.state.name, project=self.state.project,
                                 created_at=now)
                session.add(row)
            previous = row.config_id
            row.config_id, row.action, row.input_values = entry_id, action, values
            row.output_values, row.updated_at = {}, now
            if transport == "NO_SIGNAL":
                row.status, row.status_reason = "COMPLETE", "Not waiting for outputs signal"
            else:
                row.status, row.status_reason = "IN_PROGRESS", "Deploy data available"
            session.flush()
            if previous:
                session.execute(delete(SoftwareConfig).where(SoftwareConfig.id == previous))
            metadata = software.push_metadata(session, server.id)
        runtime.publish_server(server.id, metadata)
        if transport == "NO_SIGNAL":
            return Done(physical_id=deployment_id)
        return Waiting(physical_id=deployment_id)

    def check_waiting(self):
        with self.runtime.store.session() as session:
            row = session.get(Deployment, self.state.physical_id)
            if row is None:
                raise self.fail("the deployment record is gone")
            status, reason, outputs = row.status, row.status_reason, dict(row.output_values or {})
        if status == "IN_PROGRESS":
            return None
        if status == "FAILED":
            raise self.fail(f"Deployment to server failed: {reason}")
        if self.state.action == "DELETE":
            self._purge()
        return Done(physical_id=self.state.physical_id, attributes=outputs)

    def cancel(self) -> None:
        with self.runtime.store.session() as session:
            row = session.get(Deployment, self.state.physical_id)
            if row is not None and row.status == "IN_PROGRESS":
                row.status, row.status_reason = "FAILED", "Deployment cancelled."

    def timeout_reason(self) -> str:
        return "Deployment to server timed out: no signal arrived"

    def delete(self):
        if not self.state.physical_id:
            return Done()
        with self.runtime.store.session() as session:
            row = session.get(Deployment, self.state.physical_id)
            server = session.get(Server, row.server_id) if row else None
            alive = server is not None and server.deleted_at is None
        if row is not None and alive and "DELETE" in (self.properties.get("actions") or []) \
                and self.properties.get("signal_transport") != "NO_SIGNAL":
            return self._deploy("DELETE")
        self._purge()
        return Done()

    def _purge(self) -> None:
        with self.runtime.store.session() as session:
            row = session.get(Deployment, self.state.physical_id)
            if row is None:
                return
            server_id = row.server_id
            session.execute(delete(SoftwareConfig).where(
                SoftwareConfig.deployment_id == row.id))
            session.delete(row)
            session.flush()
            metadata = software.push_metadata(session, server_id)
        if metadata:
            self.runtime.publish_server(server_id, metadata)

    @classmethod
    def attribute(cls, runtime, name, physical_id, attributes, data):
        if name is None:
            return dict(attributes)
        return attributes.get(name)
