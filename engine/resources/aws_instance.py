"""AWS::EC2::Instance: Heat's CloudFormation-compatible server; it owns and touches what an
OS::Nova::Server does (its subclass, engine/resources/server.py), the compute driver included.

It is served by the compute driver.

The machine is made exactly as an OS::Nova::Server's (engine/resources/server.py): a real agent
process under the `local` driver, an enrolled machine under `deployed`. Only the template's face
differs: Heat's AWS property schema, its five attributes, and Heat's user data for an instance.
"""

from __future__ import annotations

from engine.guest import userdata
from engine.resources.schema import Prop
from engine.resources.server import ADDRESS, Server

NO_ADDRESS = "0.0.0.0"  # what Heat answers for an instance whose address it cannot find
INSTANCE_USER = "ec2-user"  # the user Heat's user data has cloud-init create on an instance


def _not_implemented(kind: str) -> Prop:
    return Prop(kind, "Not Implemented.", implemented=False)


def _pairs(description: str, update_allowed: bool = False) -> Prop:
    """A list of {Key, Value} maps (Tags, NovaSchedulerHints)."""
    pair = Prop("map", fields={"Key": Prop("string", required=True), "Value": Prop("string", required=True)})
    return Prop("list", description, item=pair, update_allowed=update_allowed)


EBS = {
    "DeleteOnTermination": Prop(
        "boolean", "Indicate whether the volume should be deleted when the instance is terminated.", default=True
    ),
    "Iops": Prop("number", "The number of I/O operations per second that the volume supports.", implemented=False),
    "SnapshotId": Prop(
        "string", "The ID of the snapshot to create a volume from.", custom_constraint="cinder.snapshot"
    ),
    "VolumeSize": Prop(
        "string",
        "The size of the volume, in GB. Must be equal or greater than the "
        "size of the snapshot. It is safe to leave this blank and have the Compute "
        "service infer the size.",
    ),
    "VolumeType": Prop("string", "The volume type.", implemented=False),
}
BLOCK_DEVICE_MAPPING = {
    "DeviceName": Prop(
        "string",
        "A device name where the volume will be attached in the system at /dev/device_name.e.g. vdb",
        required=True,
    ),
    "Ebs": Prop("map", "The ebs volume to attach to the instance.", fields=EBS),
    "NoDevice": Prop("map", "The can be used to unmap a defined device.", implemented=False),
    "VirtualName": Prop(
        "string",
        "The name of the virtual device. The name must be in the form "
        "ephemeralX where X is a number starting from zero (0); for example, "
        "ephemeral0.",
        implemented=False,
    ),
}
VOLUME = {
    "Device": Prop(
        "string",
        "The device where the volume is exposed on the instance. This "
        "assignment may not be honored and it is advised that the path "
        "/dev/disk/by-id/virtio-<VolumeId> be used instead.",
        required=True,
    ),
    "VolumeId": Prop(
        "string", "The ID of the volume to be attached.", required=True, custom_constraint="cinder.volume"
    ),
}


class Instance(Server):
    """An AWS-style compute instance, made by the compute driver as an OS::Nova::Server is: with
    the `local` driver a real agent process on this host, CREATE_COMPLETE when that agent first
    fetches its metadata. `Ref` gives the server's id.

    `UserData` is packaged as Heat packages it for an instance (HEAT_CFNTOOLS, engine/guest/userdata.py):
    cloud-config and boothook creating `ec2-user`, `cfn-userdata` (the UserData itself),
    `loguserdata.py`, `cfn-init-data` with the resource's `Metadata` (its
    `AWS::CloudFormation::Init` for cfn-init), `cfn-metadata-server` and `cfn-boto-cfg`. The
    metadata is served through the CFN API (`DescribeStackResource`, engine/guest/transports/cfn.py) with an EC2
    key pair that reads only this instance's metadata, as an OS::Nova::Server's default
    POLL_SERVER_CFN transport gives; software deployments to the instance reach its agent.

    `InstanceType`, `Tags`, `NetworkInterfaces`, `SubnetId` and `Metadata` change in place (they
    are recorded; the agent sees new metadata at once); any other change replaces the instance.
    Attributes: `PrivateIp`, `PublicIp`, `PrivateDnsName` and `PublicDnsName` are all the
    server's address, as in Heat (which answers its IP address for the DNS names too): 127.0.0.1
    under the `local` driver; under a driver that does not know the machine's address
    (`deployed`) Heat's answer for an unknown address, 0.0.0.0.
    `AvailabilityZone` is the property's value, else `nova` (Nova's default zone).
    The properties Heat marks "Not Implemented" are refused as Heat refuses them."""

    type_name = "AWS::EC2::Instance"
    properties_schema = {
        "ImageId": Prop("string", "Glance image ID or name.", required=True, custom_constraint="glance.image"),
        "InstanceType": Prop(
            "string",
            "Nova instance type (flavor).",
            required=True,
            update_allowed=True,
            custom_constraint="nova.flavor",
        ),
        "KeyName": Prop("string", "Optional Nova keypair name.", custom_constraint="nova.keypair"),
        "AvailabilityZone": Prop("string", "Availability zone to launch the instance in."),
        "DisableApiTermination": _not_implemented("string"),
        "KernelId": _not_implemented("string"),
        "Monitoring": _not_implemented("boolean"),
        "PlacementGroupName": _not_implemented("string"),
        "PrivateIpAddress": _not_implemented("string"),
        "RamDiskId": _not_implemented("string"),
        "SecurityGroups": Prop("list", "Security group names to assign."),
        "SecurityGroupIds": Prop("list", "Security group IDs to assign."),
        "NetworkInterfaces": Prop("list", "Network interfaces to associate with instance.", update_allowed=True),
        "SourceDestCheck": _not_implemented("boolean"),
        "SubnetId": Prop("string", "Subnet ID to launch instance in.", update_allowed=True),
        "Tags": _pairs("Tags to attach to instance.", update_allowed=True),
        "NovaSchedulerHints": _pairs("Scheduler hints to pass to Nova (Heat extension)."),
        "Tenancy": Prop("string", "Not Implemented.", allowed=("dedicated", "default"), implemented=False),
        "UserData": Prop("string", "User data to pass to instance."),
        "Volumes": Prop("list", "Volumes to attach to instance.", default=[], item=Prop("map", fields=VOLUME)),
        "BlockDeviceMappings": Prop(
            "list", "Block device mappings to attach to instance.", item=Prop("map", fields=BLOCK_DEVICE_MAPPING)
        ),
    }
    attributes_schema = {
        "AvailabilityZone": "The Availability Zone where the specified instance is launched.",
        "PrivateDnsName": "Private DNS name of the specified instance.",
        "PublicDnsName": "Public DNS name of the specified instance.",
        "PrivateIp": "Private IP address of the specified instance.",
        "PublicIp": "Public IP address of the specified instance.",
    }
    attribute_types = dict.fromkeys(attributes_schema, "string")

    def server_name(self) -> str:
        return self.physical_name()  # Heat names the Nova server after the resource

    def transport(self) -> str:
        """Heat's CFN metadata path: an instance has no transport property; its metadata is read
        through the CFN API, so it gets POLL_SERVER_CFN's `cfn` subsection."""
        return "POLL_SERVER_CFN"

    def boot_user_data(self, metadata: dict, name: str) -> bytes:
        properties = {"user_data": self.properties.get("UserData") or "", "user_data_format": "HEAT_CFNTOOLS"}
        return userdata.for_server(self.runtime, properties, metadata, name, instance_user=INSTANCE_USER)

    def _attributes(self, server_id: str, name: str, occ) -> dict:
        local = self.driver().name == "local"
        address = ADDRESS if local else NO_ADDRESS
        zone = self.properties.get("AvailabilityZone") or "nova"
        addresses = {"private": [{"addr": address, "version": 4}]} if local else {}
        return {
            "AvailabilityZone": zone,
            "PrivateDnsName": address,
            "PublicDnsName": address,
            "PrivateIp": address,
            "PublicIp": address,
            "show": {
                "id": server_id,
                "name": name,
                "status": "ACTIVE",
                "addresses": addresses,
                "OS-EXT-AZ:availability_zone": zone,
            },
        }
