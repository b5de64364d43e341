"""OS::Nova::Server and OS::Heat::DeployedServer: own the Server row, its guest credentials and its
machine; touch `runtime.store`, the compute driver and the notifier (metadata).

OS::Nova::Server and OS::Heat::DeployedServer: a machine that runs the agent, via the compute
driver.

The server's metadata document (template metadata + `deployments` + `os-collect-config`) is
what its agent long-polls. A server gets its own guest credential, revoked with it.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select, update

from engine import secrets
from engine.compute.base import ServerSpec
from engine.facts import store as fact_store
from engine.facts.book import TOPIC as FACTS_TOPIC
from engine.guest import credentials, enrol, liveness, transports, userdata
from engine.guest.transports import temp_url
from engine.resources.base import Done, Resource, UpdateReplace, Waiting
from engine.resources.schema import Prop
from engine.store.models import Server as ServerRow

# Heat's software_config_transport values; those served are in engine.guest.transports.TRANSPORTS.
TRANSPORTS = ("POLL_SERVER_CFN", "POLL_SERVER_HEAT", "POLL_TEMP_URL", "ZAQAR_MESSAGE")
ADDRESS = "127.0.0.1"


class Server(Resource):
    """A compute server. With the `local` driver it is a real agent process on this host and
    creation completes when that agent first fetches its metadata.

    `user_data_format` packages `user_data` as Heat does (engine/guest/userdata.py). `RAW` passes it
    unchanged. `SOFTWARE_CONFIG` builds Heat's multipart MIME: `cloud-config`, `boothook.sh`,
    `part-handler.py` (stores each `text/x-cfninitdata` part in /var/lib/heat-cfntools and
    /var/lib/cloud/data), the user's part(s) (a multipart `user_data` has its parts re-attached,
    other text becomes one text/plain part), then `cfn-init-data` with the server's metadata JSON,
    `os-collect-config` section included, so a stock image's agent bootstraps as under Heat.
    `HEAT_CFNTOOLS` adds `cfn-userdata`, `loguserdata.py`, `cfn-metadata-server` and
    `cfn-boto-cfg` and carries only the template metadata. With RAW or SOFTWARE_CONFIG a
    `user_data` that is a software config's id is replaced by that config's text. Drivers of
    real clouds pass the result to the guest (Nova accepts at most 64 KiB once base64-encoded);
    the `local` driver writes it to `<server dir>/user-data` (0600) for inspection only.

    With `software_config_transport: POLL_TEMP_URL` the `os-collect-config` section (and the
    `os_collect_config` attribute) names a signed collect URL for os-collect-config's `request`
    collector (see docs/guest-api.md). With POLL_SERVER_CFN (the default) it holds Heat's `cfn`
    subsection: an EC2 key pair that reads only this server's metadata through the CFN API at
    `/v1/` (engine/guest/transports/cfn.py), for os-collect-config's `cfn` collector and heat-cfntools."""

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
        "user_data_format": Prop(
            "string",
            "how user_data is packaged",
            default="HEAT_CFNTOOLS",
            allowed=("HEAT_CFNTOOLS", "RAW", "SOFTWARE_CONFIG"),
        ),
        "user_data_update_policy": Prop("string", allowed=("REPLACE", "IGNORE", "REBUILD"), default="REPLACE"),
        "software_config_transport": Prop(
            "string",
            "how the server fetches its metadata",
            default="POLL_SERVER_CFN",
            allowed=TRANSPORTS,
            update_allowed=True,
        ),
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
        "name": "server name",
        "first_address": "the first IP address (deprecated in Heat)",
        "addresses": "addresses by network",
        "networks": "IP addresses by network name",
        "accessIPv4": "public IPv4 address",
        "accessIPv6": "public IPv6 address",
        "instance_name": "instance name",
        "show": "all server details",
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
        name = self.server_name()
        occ, issued = self._transport_section(server_id, transports.native_section(runtime.public_url, server_id), now)
        sealed = secrets.seal_section(runtime.keyring, occ)  # stored: the collect URL is a secret
        doc = {**self._stored_metadata(), "deployments": [], "os-collect-config": sealed}
        with runtime.store.session() as session:
            session.add(
                ServerRow(
                    id=server_id,
                    name=name,
                    stack_id=self.state.stack_id,
                    resource_name=self.state.name,
                    project=self.state.project,
                    driver=driver.name,
                    metadata_doc=doc,
                    metering=self.metering(),
                    created_at=now,
                )
            )
            credentials.add_issued(session, issued)  # a transport's key pair, in this unit of work
            secret = None
            if driver.waits_for_contact:
                secret = credentials.issue(
                    session,
                    kind="server",
                    subject_id=server_id,
                    stack_id=self.state.stack_id,
                    now=now,
                    ttl_seconds=runtime.config.credential_ttl,
                )
        bootstrap = enrol.bootstrap_document(
            runtime.public_url, server_id, secret, guest_urls=runtime.config.guest_urls
        )
        # Boot user data as Heat packages it for user_data_format (engine.guest.userdata).
        boot_user_data = self.boot_user_data({**doc, "os-collect-config": occ}, name)
        driver_data = driver.create(ServerSpec(server_id, name, bootstrap, self.properties, user_data=boot_user_data))
        with runtime.store.session() as session:
            row = session.get(ServerRow, server_id)
            row.driver_data = driver_data
            row.status = "BUILD" if driver.waits_for_contact else "ACTIVE"
        if driver.waits_for_contact:
            deadline = now + dt.timedelta(seconds=runtime.config.server_boot_timeout)
            return Waiting(deadline=deadline, physical_id=server_id)
        return Done(physical_id=server_id, attributes=self._attributes(server_id, name, sealed))

    def check_waiting(self):
        with self.runtime.store.session() as session:
            row = session.get(ServerRow, self.state.physical_id)
            if row is None or row.first_contact_at is None:
                return None
            row.status = "ACTIVE"
            name, occ = row.name, row.metadata_doc.get("os-collect-config")
        return Done(physical_id=self.state.physical_id, attributes=self._attributes(self.state.physical_id, name, occ))

    def timeout_reason(self) -> str:
        return (
            f"the server's agent did not contact Hearth within {self.runtime.config.server_boot_timeout} s"
            " (see agent.log in its directory)"
        )

    @classmethod
    def left_behind(cls, session, stack_id: str, name: str, known: set[str]) -> str | None:
        """The server (its agent perhaps started) of a create whose engine died before the
        resource recorded it."""
        rows = select(ServerRow.id).where(
            ServerRow.stack_id == stack_id, ServerRow.resource_name == name, ServerRow.deleted_at.is_(None)
        )
        return next((i for i in session.scalars(rows.order_by(ServerRow.created_at.desc())) if i not in known), None)

    def server_name(self) -> str:
        return self.properties.get("name") or f"{self.state.stack_name}-{self.state.name}"

    def transport(self) -> str | None:
        """The metadata transport: the `software_config_transport` property here."""
        return self.properties.get("software_config_transport")

    def boot_user_data(self, metadata: dict, name: str) -> bytes:
        return userdata.for_server(self.runtime, self.properties, metadata, name)

    # Heat's collectors for an OS::Nova::Server; DeployedServer has no ec2 (LP #1669842).
    boot_collectors: tuple[str, ...] = ("ec2",)

    def _transport_section(
        self, server_id: str, occ: dict, now: dt.datetime, floor: int = 0
    ) -> tuple[dict, tuple[credentials.NewCredential, ...]]:
        """The `os-collect-config` section for the chosen transport, as Heat writes it, and the
        credential rows its subsection hands out (the caller adds them with the document).

        A served transport (engine.guest.transports.TRANSPORTS) owns one subsection (`request`,
        `cfn`, `heat`), filled by its section(), and gets Heat's collector list; every other
        transport subsection has its keys set to null, as Heat does, so a stale boot-time
        transport is dropped (and no longer served). A transport not served leaves only
        Hearth's own `hearth` collector."""
        occ = dict(occ)
        transport = transports.TRANSPORTS.get(self.transport())
        owned = transport.OWNS if transport is not None else None
        for section in transports.SECTIONS:
            if section != owned and isinstance(occ.get(section), dict):
                occ[section] = dict.fromkeys(occ[section])
        if transport is None:
            if set(occ.get("collectors") or []) & set(transports.SECTIONS):
                occ["collectors"] = ["hearth"]
            return occ, ()
        current = occ.get(owned) if isinstance(occ.get(owned), dict) else {}
        state = self.state
        built = transport.section(
            transports.ServerPlace(
                runtime=self.runtime,
                server_id=server_id,
                stack_id=state.stack_id,
                stack_name=state.stack_name,
                resource_name=state.name,
                project=state.project,
                now=now,
                floor=floor,
            ),
            current,
        )
        occ[owned] = built.section
        occ["collectors"] = [*self.boot_collectors, owned, "local"]
        return occ, built.credentials

    @classmethod
    def attribute(cls, runtime, name, physical_id, attributes, data):
        """os_collect_config is stored with its collect URL sealed; get_attr gives it opened.
        `show` (what `resource show` answers) carries the live `agent` view."""
        value = super().attribute(runtime, name, physical_id, attributes, data)
        if name == "os_collect_config":
            return secrets.open_section(runtime.keyring, value)
        if name is None and "os_collect_config" in value:
            value["os_collect_config"] = secrets.open_section(runtime.keyring, value["os_collect_config"])
        if name == "show" and isinstance(value, dict) and physical_id:
            return {**value, "agent": cls.agent_view(runtime, physical_id)}
        if name is None and isinstance(value.get("show"), dict) and physical_id:
            value["show"] = {**value["show"], "agent": cls.agent_view(runtime, physical_id)}
        return value

    def metering(self) -> dict:
        """The `metering.KEY: VALUE` pairs of the Nova `metadata` property as {KEY: VALUE}, as
        Ceilometer puts them in a sample's metadata.user_metadata: what alarms match by
        (engine/alarms/matching.py)."""
        metadata = self.properties.get("metadata") or {}
        return {k[len("metering.") :]: str(v) for k, v in metadata.items() if str(k).startswith("metering.")}

    def _stored_metadata(self) -> dict:
        """The template metadata as the server's document keeps it: sealed when derived from
        a secret (the guest API opens it for the agent)."""
        metadata = dict(self.state.metadata or {})
        return secrets.seal_keys(self.runtime.keyring, metadata) if self.state.secret_metadata else metadata

    @staticmethod
    def agent_view(runtime, server_id: str) -> dict:
        """The server's agent as Hearth sees it: when it last reached the guest API
        (engine/guest/liveness.py) and, for a server whose driver runs its agent (`local`), the
        supervisor's view: state, pid, started_at, restarts, last_exit, next_restart_at."""
        with runtime.store.session() as session:
            row = session.get(ServerRow, server_id)
            if row is None:
                return {}
            driver, seen = row.driver, row.last_seen_at
        status = runtime.compute.agent_status(server_id) if driver == runtime.compute.name else None
        return {**(status or {}), "last_seen_at": liveness.iso(seen) if seen else None}

    @staticmethod
    def _attributes(server_id: str, name: str, occ) -> dict:
        addresses = {"private": [{"addr": ADDRESS, "version": 4}]}
        return {
            "name": name,
            "first_address": ADDRESS,
            "addresses": addresses,
            "networks": {"private": [ADDRESS]},
            "accessIPv4": ADDRESS,
            "accessIPv6": "",
            "instance_name": name,
            "console_urls": {},
            "os_collect_config": occ,
            "show": {"id": server_id, "name": name, "status": "ACTIVE", "addresses": addresses},
        }

    def update(self) -> Done:
        """Name and template metadata change in place; the agent sees new metadata at once."""
        server_id = self.state.physical_id
        with self.runtime.store.session() as session:
            # Bump first so that the write lock is ours before the document is read (see
            # engine/guest/metadata.push_metadata); a deployment pushing at the same time waits for us.
            bumped = (
                session.execute(
                    update(ServerRow)
                    .where(ServerRow.id == server_id, ServerRow.deleted_at.is_(None))
                    .values(metadata_version=ServerRow.metadata_version + 1)
                )
                if server_id
                else None
            )
            if bumped is None or bumped.rowcount == 0:
                raise UpdateReplace()
            row = session.get(ServerRow, server_id, populate_existing=True)
            if self.properties.get("name"):
                row.name = self.properties["name"]
            row.metering = self.metering()
            doc = dict(row.metadata_doc or {})
            before = secrets.open_section(self.runtime.keyring, doc.get("os-collect-config") or {})
            # The latest collect-URL expiry ever issued, kept in driver_data (no migration), so
            # that a URL issued again never equals a revoked one (engine/guest/transports/temp_url.py).
            floor = max(int((row.driver_data or {}).get("collect_expires", 0)), temp_url.url_expiry(before))
            occ, issued = self._transport_section(server_id, before, self.runtime.now(), floor)
            latest = max(floor, temp_url.url_expiry(occ))
            if latest:
                row.driver_data = {**(row.driver_data or {}), "collect_expires": latest}
            new = {
                **self._stored_metadata(),
                "deployments": doc.get("deployments", []),
                "os-collect-config": secrets.seal_section(self.runtime.keyring, occ),
            }
            row.metadata_doc = new
            credentials.add_issued(session, issued)
            published = (row.metadata_version, secrets.open_document(self.runtime.keyring, new))
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

            driver = (
                runtime.compute if driver_name == runtime.compute.name else make_driver(driver_name, runtime.config)
            )
            driver.delete(server_id, driver_data)
        with runtime.store.session() as session:
            credentials.revoke_subject(session, server_id, now)
            row = session.get(ServerRow, server_id)
            if row is not None:
                row.deleted_at, row.status = now, "DELETED"
            # The facts it wrote bound to its life go with it (docs/facts.md).
            unbound = fact_store.forget_writer(session, server_id, now)
        runtime.publish_server(server_id)
        for root_id, index in unbound.items():
            runtime.notifier.publish(FACTS_TOPIC + root_id, hint=index)
        return Done()


class DeployedServer(Server):
    """A pre-provisioned machine: nothing is started; it enrols with `hearth server bootstrap`."""

    type_name = "OS::Heat::DeployedServer"
    driver_name = "deployed"
    boot_collectors = ()
    properties_schema = {
        "name": Prop("string", "server name", update_allowed=True),
        "metadata": Prop("map", "metadata key/value pairs", update_allowed=True),
        "software_config_transport": Prop(
            "string",
            "how the server fetches its metadata",
            default="POLL_SERVER_CFN",
            allowed=TRANSPORTS,
            update_allowed=True,
        ),
        "deployment_swift_data": Prop(
            "map",
            "Swift container/object for POLL_TEMP_URL",
            default={},
            update_allowed=True,
            fields={
                "container": Prop("string", "the container's name", min=1),
                "object": Prop("string", "the object's name", min=1),
            },
        ),
    }
    attributes_schema = {"name": "server name", "os_collect_config": "the os-collect-config section"}
    attribute_types = {"name": "string", "os_collect_config": "map"}

    @classmethod
    def attribute(cls, runtime, name, physical_id, attributes, data):
        """No `show`: Heat's DeployedServer has no API of its own to show, so its resource show
        lists its attributes (name, os_collect_config with its secrets masked)."""
        if name == "show":
            return None
        return super().attribute(runtime, name, physical_id, attributes, data)
