"""Boot user data as Heat packages it: RAW unchanged, SOFTWARE_CONFIG and HEAT_CFNTOOLS as
Heat's multipart MIME, parsed back with the standard library's email package; the server
resource hands it to the compute driver and the local driver keeps a 0600 copy."""

from __future__ import annotations

import email
import json
import os
import stat
import subprocess
import sys
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import pytest

from engine.compute.base import ServerSpec
from engine.compute.deployed import DeployedDriver
from engine.compute.local import LocalDriver
from engine.guest import userdata
from tests.support import wait_for

METADATA = {
    "role": "web",
    "deployments": [],
    "os-collect-config": {
        "collectors": ["cfn"],
        "cfn": {"metadata_url": "https://cfn.example:8000/v1/", "stack_name": "s", "path": "server.Metadata"},
    },
}


def parts(blob: bytes) -> list:
    message = email.message_from_bytes(blob)
    assert message.is_multipart() and message.get_content_type() == "multipart/mixed"
    return message.get_payload()


def described(blob: bytes) -> list[tuple[str, str]]:
    return [(p.get_filename(), p.get_content_type()) for p in parts(blob)]


def text(part) -> str:
    return part.get_payload(decode=True).decode(part.get_content_charset())


def by_name(blob: bytes, filename: str):
    return next(p for p in parts(blob) if p.get_filename() == filename)


def test_raw_is_the_user_data_unchanged():
    assert userdata.build("RAW", "#!/bin/sh\necho hi\n", METADATA, "web") == b"#!/bin/sh\necho hi\n"
    assert userdata.build("RAW", None, METADATA, "web") == b""


def test_software_config_has_heats_parts_in_order_and_the_metadata_as_cfn_init_data():
    blob = userdata.build("SOFTWARE_CONFIG", "#!/bin/sh\necho hi\n", METADATA, "web")
    assert described(blob) == [
        ("cloud-config", "text/cloud-config"),
        ("boothook.sh", "text/cloud-boothook"),
        ("part-handler.py", "text/part-handler"),
        ("", "text/plain"),
        ("cfn-init-data", "text/x-cfninitdata"),
    ]
    assert json.loads(text(by_name(blob, "cfn-init-data"))) == METADATA
    assert text(parts(blob)[3]) == "#!/bin/sh\necho hi\n"
    assert "/var/log/cloud-init-output.log" in text(by_name(blob, "cloud-config"))
    assert "cfn-create-aws-symlinks" in text(by_name(blob, "boothook.sh"))
    for part in parts(blob):
        assert part["Content-Disposition"].startswith("attachment")


def test_a_multipart_user_data_has_its_parts_reattached_in_order():
    mine = MIMEMultipart(
        _subparts=[
            MIMEText("#cloud-config\npackages: [git]\n", "cloud-config"),
            MIMEText("#!/bin/sh\necho ünïcode\n", "x-shellscript", "utf-8"),
        ]
    )
    mine.get_payload()[1].add_header("Content-Disposition", "attachment", filename="setup.sh")
    blob = userdata.build("SOFTWARE_CONFIG", mine.as_string(), METADATA, "web")
    assert described(blob)[3:] == [
        ("", "text/cloud-config"),
        ("setup.sh", "text/x-shellscript"),
        ("cfn-init-data", "text/x-cfninitdata"),
    ]
    assert text(parts(blob)[4]) == "#!/bin/sh\necho ünïcode\n"  # decoded once, not re-encoded twice
    assert parts(blob)[4].get_content_charset() == "utf-8"


def test_non_ascii_metadata_is_escaped_json_in_an_ascii_part_as_in_heat():
    blob = userdata.build("SOFTWARE_CONFIG", "", {"motd": "grüße"}, "web")
    part = by_name(blob, "cfn-init-data")
    assert part.get_content_charset() == "us-ascii" and "\\u00fc" in text(part)
    assert json.loads(text(part)) == {"motd": "grüße"}


def test_empty_metadata_has_no_cfn_init_data_as_in_heat():
    assert "cfn-init-data" not in [f for f, _ in described(userdata.build("SOFTWARE_CONFIG", "", {}, "w"))]


def test_heat_cfntools_adds_userdata_script_metadata_server_and_boto_config():
    blob = userdata.build(
        "HEAT_CFNTOOLS", "#!/bin/sh\necho hi\n", {"role": "web"}, "web", cfn_metadata_url="http://203.0.113.5:8000/v1/"
    )
    assert described(blob) == [
        ("cloud-config", "text/cloud-config"),
        ("boothook.sh", "text/cloud-boothook"),
        ("part-handler.py", "text/part-handler"),
        ("cfn-userdata", "text/x-cfninitdata"),
        ("loguserdata.py", "text/x-shellscript"),
        ("cfn-init-data", "text/x-cfninitdata"),
        ("cfn-metadata-server", "text/x-cfninitdata"),
        ("cfn-boto-cfg", "text/x-cfninitdata"),
    ]
    assert text(by_name(blob, "cfn-userdata")) == "#!/bin/sh\necho hi\n"
    assert text(by_name(blob, "cfn-metadata-server")) == "http://203.0.113.5:8000/v1/"
    boto = text(by_name(blob, "cfn-boto-cfg")).splitlines()
    assert boto[0] == "[Boto]"
    assert "cfn_region_name = heat" in boto and "cfn_region_endpoint = 203.0.113.5" in boto
    assert "is_secure = False" in boto


def test_unknown_format_is_refused_naming_the_server():
    with pytest.raises(userdata.UserDataError, match="server web: user_data_format must be one of"):
        userdata.build("CLOUD_INIT", "", {}, "web")


def test_the_part_handler_stores_cfninitdata_parts_privately(tmp_path):
    """Runs the part-handler we ship in a real Python process, with its target directories
    pointed into tmp_path (the real ones are /var/lib/...), as cloud-init would call it."""
    handler = text(by_name(userdata.build("SOFTWARE_CONFIG", "", METADATA, "w"), "part-handler.py"))
    targets = (str(tmp_path / "heat-cfntools"), str(tmp_path / "cloud-data"))
    os.mkdir(targets[1])
    source = handler.replace('TARGETS = ("/var/lib/heat-cfntools", "/var/lib/cloud/data")', f"TARGETS = {targets!r}")
    assert source != handler
    script = (
        source + "\nhandle_part(None, '__begin__', None, None)\n"
        "assert list_types() == ['text/x-cfninitdata']\n"
        "handle_part(None, 'text/x-cfninitdata', 'cfn-init-data', '{\"a\": 1}')\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=30)
    for directory in targets:
        assert json.loads((tmp_path / directory / "cfn-init-data").read_text()) == {"a": 1}
    assert stat.S_IMODE(os.stat(targets[0]).st_mode) == 0o700


class RecordingDriver(DeployedDriver):
    """A compute driver written as a third party would: it keeps each spec it is given."""

    def __init__(self):
        self.specs: list[ServerSpec] = []

    def create(self, spec: ServerSpec) -> dict:
        self.specs.append(spec)
        return {}


TEMPLATE = """heat_template_version: 2018-08-31
resources:
  boot: {type: OS::Heat::CloudConfig, properties: {cloud_config: {packages: [git]}}}
  server:
    type: OS::Nova::Server
    metadata: {role: web}
    properties:
      user_data_format: SOFTWARE_CONFIG
      user_data: {get_resource: boot}
"""


def test_a_server_hands_its_driver_heats_user_data(service):
    """The real engine creates the stack; only the compute driver is a recording stand-in,
    since a driver that passes user data to a real cloud cannot run here."""
    driver = RecordingDriver()
    service.runtime.compute = driver
    stack_id = service.stacks.create_stack("admin", {"stack_name": "boot", "template": TEMPLATE})["id"]
    wait_for(
        lambda: (
            service.stacks.show_stack("admin", stack_id, resolve_outputs=False)["stack_status"] == "CREATE_COMPLETE"
        ),
        30,
        message="the stack to be created",
    )
    [spec] = driver.specs
    blob = spec.user_data
    names = [f for f, _ in described(blob)]
    assert names[:3] == ["cloud-config", "boothook.sh", "part-handler.py"]
    assert names[-1] == "cfn-init-data"
    # The CloudConfig's id was resolved to its text, as Heat does for SOFTWARE_CONFIG.
    assert text(parts(blob)[3]).startswith("#cloud-config\npackages:\n- git")
    init = json.loads(text(by_name(blob, "cfn-init-data")))
    assert init["role"] == "web" and init["deployments"] == []
    assert "os-collect-config" in init


def test_the_local_driver_keeps_a_private_copy_of_the_user_data(tmp_path):
    """A real agent process is started (and stopped); it never reads the copy."""
    driver = LocalDriver(str(tmp_path))
    blob = userdata.build("SOFTWARE_CONFIG", "", METADATA, "w")
    spec = ServerSpec(
        "s1",
        "w",
        {
            "server_id": "s1",
            "metadata_url": "http://127.0.0.1:9/x",
            "base_url": "http://127.0.0.1:9",
            "credential": None,
            "collectors": ["hearth"],
        },
        {},
        user_data=blob,
    )
    data = driver.create(spec)
    try:
        path = tmp_path / "servers" / "s1" / "user-data"
        assert path.read_bytes() == blob
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []
    finally:
        driver.delete("s1", data)
    assert not (tmp_path / "servers" / "s1").exists()


def test_an_instance_user_is_created_by_cloud_config_and_once_by_the_boothook():
    """AWS::EC2::Instance's user data names `ec2-user` as Heat's does; the boothook (run at
    every boot, by /bin/sh) adds the user and its sudoers line only when missing."""
    message = email.message_from_bytes(userdata.build("HEAT_CFNTOOLS", "", {}, instance_user="ec2-user"))
    parts = {p.get_filename(): p.get_payload(decode=True).decode() for p in message.get_payload()}
    assert parts["cloud-config"].splitlines()[:2] == ["#cloud-config", "user: ec2-user"]
    assert (
        "id -u ec2-user >/dev/null 2>&1 || { useradd -m ec2-user && "
        "printf '%s\\tALL=(ALL)\\tNOPASSWD: ALL\\n' ec2-user >> /etc/sudoers; }"
    ) in parts["boothook.sh"]
    assert subprocess.run(["sh", "-n", "-c", parts["boothook.sh"]]).returncode == 0
    plain = email.message_from_bytes(userdata.build("HEAT_CFNTOOLS", "", {}))
    assert "user:" not in plain.get_payload()[0].get_payload(decode=True).decode()
