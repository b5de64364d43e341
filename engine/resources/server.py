"""OS::Nova::Server and OS::Heat::DeployedServer: a machine that runs the agent, via the compute driver.

The server's metadata document (template metadata + `deployments` + `os-collect-config`) is
what its agent long-polls. A server gets its own guest credential, revoked with it.
"""
from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import update

from engine import credentials
from engine.compute.base import ServerSpec
from engine.resources.base import Done, Resource, UpdateReplace, Waiting
from engine.resources.schema import Prop
from engine.store.models import Server as ServerRow

TRANSPORTS = ("POLL_SERVER_CFN", "POLL_SERVER_HEAT", "POLL_TEMP_URL", "ZAQAR_MESSAGE")
ADDRESS = "127.0.0.1"


class Server(Resource):
    """A compute server. With the `local` driver it is a real agent process on this host and
    creation completes when that agent first fetches its metadata."""

    type_name = "OS::Nova::Server"
    driver_name: str | None = None  # None: the installation's configured driver
    properties_schema = {
        "name": Prop("string", "server name; defaults to <stack>-<resource>", update_allowed=True),
        "image": Prop("string", "image name or id (recorded; the local driver ignores it)"),
        "flavor": Prop("string", "flavor name or id (recorded)", update_allowed=True),
        "key_name": Prop("string", "key pair name (recorded)"),
        "admin_pass": Prop("string", "administrator password (recorded)"),
        "admin_user": Prop("string", "administrator user (recorded)"),
        "availability_zone": Prop("string", "availability zone (recorded)"),
        "networks": Prop("list", "networks to attach (recorded)", item=Prop("map")),
        "security_groups": Prop("list", "security groups (recorded)"),
        "block_device_mapping": Prop("list", "block devices (recorded)"),
        "block_device_mapping_v2": Prop("list", "block devices (recorded)"),
        "scheduler_hints": Prop("map", "scheduler hints (recorded)"),
        "metadata": Prop("map", "Nova metadata key/value pairs", update_allowed=True),
        "user_data": Prop("string", "user data for cloud-init", default=""),
        "user_data_format": Prop("string", "how user_data is packaged", default="HEAT_CFNTOOLS",
                                 allowed=("HEAT_CFNTOOLS", "RAW", "SOFTWARE_CONFIG")),
        "user_data_update_policy": Prop("string", allowed=("REPLACE", "IGNORE", "REBUILD"),
                                        default="REPLACE"),
        "software_config_transport": Prop("string", "how the server fetches its metadata",
                                          default="POLL_SERVER_CFN", allowed=TRANSPORTS,
                                          update_allowed=True),
        "deployment_swift_data": Prop("map", "Swift container/object for POLL_TEMP_URL"),
        "config_drive": Prop("boolean", "use a config drive (recorded)"),
        "personality": Prop("map", "files to inject (recorded)"),
        "diskConfig": Prop("string", allowed=("AUTO", "MANUAL")),
        "reservation_id": Prop("string"),
        "flavor_update_policy": Prop("string", allowed=("RESIZE", "REPLACE"), default="RESIZE"),
        "image_update_policy": Prop("string", allowed=("REBUILD", "REPLACE", "REBUILD_PRESERVE_EPHEMERAL")),
        "tags": Prop("list"),
    }
    attributes_schema = {
        "name": "server name", "first_address": "the first IP address (deprecated in Heat)",
        "addresses": "addresses by network", "networks": "IP addresses by network name",
        "accessIPv4": "public IPv4 address", "accessIPv6": "public IPv6 address",
        "instance_name": "instance name", "show": "all server details",
        "os_collect_config": "the os-collect-config section of the metadata",
        "console_urls": "console URLs (none here)",
    }

    def driver(self):
        if self.driver_name is not None and self.driver_name != self.runtime.compute.name:
            from engine.compute import make_driver
            return make_driver(self.driver_name, self.runtime.config)
        return self.runtime.compute

    def create(self):
        runtime, now = self.runtime, self.runtime.now()
        driver = self.driver()
        server_id = str(uuid.uuid4())
        name = self.properties.get("name") or f"{self.state.stack_name}-{self.state.name}"
        metadata_url = f"{runtime.public_url}/guest/v1/servers/{server_id}/metadata"
        occ = {"collectors": ["hearth"], "hearth": {"metadata_url": metadata_url}}
        doc = {**(self.state.metadata or {}), "deployments": [],
               "os-collect-config": occ}
        with runtime.store.session() as session:
            session.add(ServerRow(id=server_id, name=name, stack_id=self.state.stack_id,
                                  resource_name=self.state.name, project=self.state.project,
                                  driver=driver.name, metadata_doc=doc, created_at=now))
            secret = None
            if driver.waits_for_contact:
                secret = credentials.issue(session, kind="server", subject_id=server_id,
                                           stack_id=self.state.stack_id, now=now,
                                           ttl_seconds=runtime.config.credential_ttl)
        bootstrap = {"server_id": server_id, "base_url": runtime.public_url,
                     "metadata_url": metadata_url, "credential": secret, "collectors": ["hearth"]}
        driver_data = driver.create(ServerSpec(server_id, name, bootstrap, self.properties))
        with runtime.store.session() as session:
            row = session.get(ServerRow, server_id)
            row.driver_data = driver_data
            row.status = "BUILD" if driver.waits_for_contact else "ACTIVE"
        if driver.waits_for_contact:
            deadline = now + dt.timedelta(seconds=runtime.config.server_boot_timeout)
            return Waiting(deadline=deadline, physical_id=server_id)
        return Done(physical_id=server_id, attributes=self._attributes(server_id, name, occ))

    def check_waiting(self):
        with self.runtime.store.session() as session:
            row = session.get(ServerRow, self.state.physical_id)
            if row is None or row.first_contact_at is None:
                return None
            row.status = "ACTIVE"
            name, occ = row.name, row.metadata_doc.get("os-collect-config")
        return Done(physical_id=self.state.physical_id,
                    attributes=self._attributes(self.state.physical_id, name, occ))

    def timeout_reason(self) -> str:
        return (f"the server's agent did not contact Hearth within {self.runtime.config.server_boot_timeout} s"
                " (see agent.log in its directory)")

    @staticmethod
    def _attributes(server_id: str, name: str, occ) -> dict:
        addresses = {"private": [{"addr": ADDRESS, "version": 4}]}
        return {"name": name, "first_address": ADDRESS, "addresses": addresses,
                "networks": {"private": [ADDRESS]}, "accessIPv4": ADDRESS, "accessIPv6": "",
                "instance_name": name, "console_urls": {}, "os_collect_config": occ,
                "show": {"id": server_id, "name": name, "status": "ACTIVE", "addresses": addresses}}

    def update(self) -> Done:
        """Name and template metadata change in place; the agent sees new metadata at once."""
        server_id = self.state.physical_id
        with self.runtime.store.session() as session:
            # Bump first so that the write lock is ours before the document is read (see
            # software.push_metadata); a deployment pushing at the same time waits for us.
            bumped = session.execute(update(ServerRow).where(
                ServerRow.id == server_id, ServerRow.deleted_at.is_(None)).values(
                metadata_version=ServerRow.metadata_version + 1)) if server_id else None
            if bumped is None or bumped.rowcount == 0:
                raise UpdateReplace()
            row = session.get(ServerRow, server_id, populate_existing=True)
            if self.properties.get("name"):
                row.name = self.properties["name"]
            doc = dict(row.metadata_doc or {})
            new = {**(self.state.metadata or {}), "deployments": doc.get("deployments", []),
                   "os-collect-config": doc.get("os-collect-config")}
            row.metadata_doc = new
            published = (row.metadata_version, new)
            name, occ = row.name, new.get("os-collect-config")
        self.runtime.publish_server(server_id, published)
        return Done(physical_id=server_id, attributes=self._attributes(server_id, name, occ))

    def delete(self) -> Done:
        server_id = self.state.physical_id
        if not server_id:
            return Done()
        runtime, now = self.runtime, self.runtime.now()
        with runtime.store.session() as session:
            row = session.get(ServerRow, server_id)
            driver_data = dict(row.driver_data or {}) if row else {}
            driver_name = row.driver if row else None
        if row is not None:
            from engine.compute import make_driver
            driver = runtime.compute if driver_name == runtime.compute.name else make_driver(
                driver_name, runtime.config)
            driver.delete(server_id, driver_data)
        with runtime.store.session() as session:
            credentials.revoke_subject(session, server_id, now)
            row = session.get(ServerRow, server_id)
            if row is not None:
                row.deleted_at, row.status = now, "DELETED"
        runtime.publish_server(server_id)
        return Done()


class DeployedServer(Server):
    """A pre-provisioned machine: nothing is started; it enrols with `hearth server bootstrap`."""

    type_name = "OS::Heat::DeployedServer"
    driver_name = "deployed"
    properties_schema = {
        "name": Prop("string", "server name", update_allowed=True),
        "metadata": Prop("map", "metadata key/value pairs", update_allowed=True),
        "software_config_transport": Prop("string", "how the server fetches its metadata",
                                          default="POLL_SERVER_CFN", allowed=TRANSPORTS,
                                          update_allowed=True),
        "deployment_swift_data": Prop("map", "Swift container/object for POLL_TEMP_URL"),
    }
    attributes_schema = {"name": "server name", "os_collect_config": "the os-collect-config section",
                         "networks": "IP addresses by network name"}
