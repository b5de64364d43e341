"""POLL_SERVER_CFN, Heat's default metadata transport, with the real clients: os-collect-config
14.1.0's `cfn` collector (EC2 signature version 2, XML answer) and heat-cfntools 2.0.0's
`cfn-get-metadata` (boto 2.49, signature version 4, ContentType=JSON), each from PyPI into a
venv of its own (tests/peers.py). Nothing is mocked: a real Hearth server on 127.0.0.1, stacks
with an OS::Nova::Server of the local driver (its own Hearth agent process) and software
deployments, and the clients run as processes with the key pair from the server's
os_collect_config attribute. Without the peers this fails under CI and skips elsewhere.

cfn-get-metadata hard-codes its paths (BOTO_CONFIG=/var/lib/heat-cfntools/cfn-boto-cfg set at
import, the port from /var/lib/heat-cfntools/cfn-metadata-server, the cache in
/var/cache/heat-cfntools, the log in /var/log/cfn-get-metadata.log), so it is run through a
small `python -c` wrapper that imports boto first with BOTO_CONFIG pointing at a temp file,
points those defaults at a temp directory, and then runs the unchanged console script.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import peers
from tests.e2e.occ import BOTH, FIRST_ONLY, configs, create, run_occ, update
from tests.support import start_server, stop_server

pytestmark = [pytest.mark.e2e, pytest.mark.peers]

# Runs the unchanged cfn-get-metadata script with its hard-coded paths moved under argv[1].
WRAPPER = """
import logging, os, runpy, sys
root, script = sys.argv[1], sys.argv[2]
os.environ["BOTO_CONFIG"] = os.path.join(root, "cfn-boto-cfg")
import boto  # reads BOTO_CONFIG now, before cfn_helper overrides it
from heat_cfntools.cfntools import cfn_helper
cfn_helper.metadata_server_port.__defaults__ = (os.path.join(root, "cfn-metadata-server"),)
cfn_helper.Metadata.retrieve.__defaults__ = (None, os.path.join(root, "cfn-init-data"),
                                             os.path.join(root, "cache", "last_metadata"))
_file_handler = logging.FileHandler
logging.FileHandler = lambda name, *a, **k: _file_handler(
    os.path.join(root, os.path.basename(name)) if name.startswith("/var/log/") else name, *a, **k)
sys.argv = [script] + sys.argv[3:]
runpy.run_path(script, run_name="__main__")
"""


@pytest.fixture(scope="module")
def occ_bin() -> Path:
    return peers.require("os-collect-config")


@pytest.fixture(scope="module")
def cfntools_bin() -> Path:
    return peers.require("heat-cfntools")


def run_cfn_get_metadata(
    bin_dir: Path, port: int, stack: str, resource: str, access: str, secret: str, workdir: Path
) -> tuple[subprocess.CompletedProcess, float]:
    """cfn-get-metadata as a guest runs it, its /var paths under `workdir` (see WRAPPER)."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "cfn-boto-cfg").write_text(
        "[Boto]\ndebug = 0\nis_secure = 0\nhttps_validate_certificates = 1\n"
        "cfn_region_name = heat\ncfn_region_endpoint = 127.0.0.1\n"
    )
    # As Heat's heat_metadata_server_url: no /v1 (cfntools takes the port from the last ':';
    # os-collect-config appends /v1/ to it when it reads this file as its hint).
    (workdir / "cfn-metadata-server").write_text(f"http://127.0.0.1:{port}\n")
    command = [
        str(bin_dir / "python"),
        "-c",
        WRAPPER,
        str(workdir),
        str(bin_dir / "cfn-get-metadata"),
        "-s",
        stack,
        "-r",
        resource,
        "--access-key",
        access,
        "--secret-key",
        secret,
    ]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(workdir), "no_proxy": "*", "NO_PROXY": "*"}
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, env=env)
    return result, time.monotonic() - started


def test_stock_cfn_clients_read_the_default_transport_and_only_with_a_live_key(tmp_path, occ_bin, cfntools_bin):
    hearth = start_server(tmp_path)
    port = hearth.httpd.server_port
    try:
        stack = create(hearth, "cfn", "POLL_SERVER_CFN")
        occ = hearth.outputs("cfn")["occ"]
        assert occ["collectors"] == ["ec2", "cfn", "local"]  # Heat's list for OS::Nova::Server
        cfn = occ["cfn"]
        assert cfn["metadata_url"] == f"http://127.0.0.1:{port}/v1/"
        assert cfn["stack_name"] == "cfn" and cfn["path"] == "server.Metadata"

        # os-collect-config's cfn collector: SigV2, XML.
        result, doc, occ_first = run_occ(occ_bin, "cfn", cfn, tmp_path / "occ1")
        assert doc is not None, result.stderr[-3000:]
        assert doc["role"] == "web" and configs(doc) == FIRST_ONLY
        assert doc["os-collect-config"]["cfn"] == cfn

        update(hearth, "cfn", stack["id"], "POLL_SERVER_CFN")
        assert hearth.outputs("cfn")["occ"]["cfn"] == cfn  # the guest's key lives on
        result, doc, occ_second = run_occ(occ_bin, "cfn", cfn, tmp_path / "occ1")
        assert doc is not None and configs(doc) == BOTH, result.stderr[-3000:]

        # cfn-get-metadata: SigV4 (scope 0/127 for 127.0.0.1), ContentType=JSON.
        result, cfn_run = run_cfn_get_metadata(
            cfntools_bin, port, "cfn", "server", cfn["access_key_id"], cfn["secret_access_key"], tmp_path / "cfntools1"
        )
        assert result.returncode == 0, result.stderr[-3000:]
        printed = json.loads(result.stdout.strip().splitlines()[-1])
        assert printed == doc
        cached = json.loads((tmp_path / "cfntools1" / "cache" / "last_metadata_server").read_text())
        assert cached == doc
        print(
            f"os-collect-config cfn runs: {occ_first:.2f} s, {occ_second:.2f} s; cfn-get-metadata: {cfn_run:.2f} s",
            file=sys.stderr,
        )

        # The matrix: another server's key, a forged signature, revoked keys.
        create(hearth, "other", "POLL_SERVER_CFN")
        other = hearth.outputs("other")["occ"]["cfn"]

        def refused_by_both(section: dict, stack_name: str, why: str, workdir: str) -> None:
            _result, doc, _ = run_occ(occ_bin, "cfn", {**section, "stack_name": stack_name}, tmp_path / workdir)
            assert doc is None, f"{why}: os-collect-config got metadata"
            got, _ = run_cfn_get_metadata(
                cfntools_bin,
                port,
                stack_name,
                "server",
                section["access_key_id"],
                section["secret_access_key"],
                tmp_path / (workdir + "-cfntools"),
            )
            assert got.returncode != 0 and "403" in got.stderr, f"{why}: {got.stdout[-500:]}"
            assert "AccessDenied" in got.stderr, why

        refused_by_both(other, "cfn", "another server's key", "foreign")
        refused_by_both(
            {**cfn, "secret_access_key": cfn["secret_access_key"][::-1]}, "cfn", "forged signature", "forged"
        )

        # Switched to POLL_TEMP_URL: the key dies, the new transport works.
        update(hearth, "cfn", stack["id"], "POLL_TEMP_URL")
        switched = hearth.outputs("cfn")["occ"]
        assert switched["cfn"]["access_key_id"] is None and switched["collectors"] == ["ec2", "request", "local"]
        refused_by_both(cfn, "cfn", "key of a transport switched away", "switched")

        # The other server still reads; once its stack is deleted, its key is refused.
        result, doc, _ = run_occ(occ_bin, "cfn", other, tmp_path / "other-live")
        assert doc is not None and doc["os-collect-config"]["cfn"] == other, result.stderr[-3000:]
        hearth.delete("other")
        refused_by_both(other, "other", "key of a deleted server", "deleted")
    finally:
        stop_server(hearth)
