"""The real os-collect-config (14.1.0, from PyPI into a venv of its own by tests/peers.py)
reads a stack's server through POLL_TEMP_URL, as it reads a Heat server's Swift temp URL.

Nothing is mocked: a real Hearth server on 127.0.0.1, a stack with an OS::Nova::Server of the
local driver (its own Hearth agent process) and software_config_transport POLL_TEMP_URL, and
os-collect-config's `request` collector run as a process with the URL from the server's
os_collect_config attribute. Without the peer this fails under CI and skips elsewhere.
"""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests import peers
from tests.support import start_server, stop_server

pytestmark = pytest.mark.e2e

TEMPLATE = """
heat_template_version: 2018-08-31
resources:
  server:
    type: OS::Nova::Server
    properties:
      image: any
      flavor: any
      user_data_format: SOFTWARE_CONFIG
      software_config_transport: POLL_TEMP_URL
  first_config:
    type: OS::Heat::SoftwareConfig
    properties: {group: script, config: "#!/bin/sh\\necho first\\n"}
  first:
    type: OS::Heat::SoftwareDeployment
    properties: {config: {get_resource: first_config}, server: {get_resource: server},
                 signal_transport: NO_SIGNAL}
SECOND
outputs:
  occ:
    value: {get_attr: [server, os_collect_config]}
"""
SECOND = """  second_config:
    type: OS::Heat::SoftwareConfig
    properties: {group: script, config: "#!/bin/sh\\necho second\\n"}
  second:
    type: OS::Heat::SoftwareDeployment
    properties: {config: {get_resource: second_config}, server: {get_resource: server},
                 signal_transport: NO_SIGNAL}
"""


@pytest.fixture(scope="module")
def occ_bin() -> Path:
    return peers.require("os-collect-config")


def run_occ(bin_dir: Path, url: str, cachedir: Path) -> tuple[dict, float]:
    """One `--one-time` pass of the request collector; its cached document and the run time.
    The console script is run by the venv's python: the venv was built in a staging directory,
    so the script's shebang names a path that no longer exists."""
    command = [str(bin_dir / "python"), str(bin_dir / "os-collect-config"), "--one-time",
               "--config-file", "/dev/null", "--cachedir", str(cachedir),
               "--backup-cachedir", str(cachedir.parent / "backup"),
               "--request-metadata-url", url, "--command", "true", "request"]
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-3000:]
    cached = cachedir / "request.json"
    assert cached.is_file(), f"no {cached}: {result.stderr[-3000:]}"
    return json.loads(cached.read_text()), elapsed


def test_os_collect_config_reads_the_temp_url_and_sees_a_change(tmp_path, occ_bin):
    hearth = start_server(tmp_path)
    try:
        hearth.create_stack("occ", TEMPLATE.replace("SECOND", ""))
        stack = hearth.wait_stack("occ", ("CREATE_COMPLETE",), timeout=90)
        assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
        occ = hearth.outputs("occ")["occ"]
        assert occ["collectors"] == ["ec2", "request", "local"]
        url = occ["request"]["metadata_url"]
        assert "/collect?" in url and "signature=" in url

        cachedir = tmp_path / "occ-cache"
        doc, first_run = run_occ(occ_bin, url, cachedir)
        assert len(doc["deployments"]) == 1, doc
        assert doc["deployments"][0]["config"] == "#!/bin/sh\necho first\n"
        assert doc["os-collect-config"]["request"]["metadata_url"] == url

        update = hearth.http.put(f"{hearth.api}/stacks/occ/{stack['id']}",
                                 json={"template": TEMPLATE.replace("SECOND", SECOND)}, timeout=30)
        assert update.status_code == 202, update.text
        stack = hearth.wait_stack("occ", ("UPDATE_COMPLETE",), timeout=90)
        assert stack["stack_status"] == "UPDATE_COMPLETE", stack["stack_status_reason"]
        assert hearth.outputs("occ")["occ"]["request"]["metadata_url"] == url  # the guest's URL lives on

        doc, second_run = run_occ(occ_bin, url, cachedir)
        configs = sorted(entry["config"] for entry in doc["deployments"])
        assert configs == ["#!/bin/sh\necho first\n", "#!/bin/sh\necho second\n"], doc
        print(f"os-collect-config runs: {first_run:.2f} s, {second_run:.2f} s")

        hearth.delete("occ")
        assert hearth.http.get(url, timeout=10).status_code in (403, 404)
    finally:
        stop_server(hearth)
