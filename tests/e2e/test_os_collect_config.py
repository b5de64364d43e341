"""The real os-collect-config (14.1.0, from PyPI into a venv of its own by tests/peers.py)
reads a stack's server through POLL_TEMP_URL, as it reads a Heat server's Swift temp URL.

Nothing is mocked: a real Hearth server on 127.0.0.1, a stack with an OS::Nova::Server of the
local driver (its own Hearth agent process) and software_config_transport POLL_TEMP_URL, and
os-collect-config's `request` collector run as a process with the URL from the server's
os_collect_config attribute. Without the peer this fails under CI and skips elsewhere.
The `cfn` and `heat` collectors: test_cfn_transport.py and test_guest_keystone.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import peers
from tests.e2e.occ import BOTH, FIRST_ONLY, configs, create, run_occ, update
from tests.support import start_server, stop_server

pytestmark = [pytest.mark.e2e, pytest.mark.peers]


@pytest.fixture(scope="module")
def occ_bin() -> Path:
    return peers.require("os-collect-config")


def test_os_collect_config_reads_the_temp_url_and_sees_a_change(tmp_path, occ_bin):
    hearth = start_server(tmp_path)
    try:
        stack = create(hearth, "occ", "POLL_TEMP_URL")
        occ = hearth.outputs("occ")["occ"]
        assert occ["collectors"] == ["ec2", "request", "local"]
        url = occ["request"]["metadata_url"]
        assert "/collect?" in url and "signature=" in url

        result, doc, first_run = run_occ(occ_bin, "request", occ["request"], tmp_path / "occ")
        assert doc is not None, result.stderr[-3000:]
        assert configs(doc) == FIRST_ONLY and doc["role"] == "web", doc
        assert doc["os-collect-config"]["request"]["metadata_url"] == url

        update(hearth, "occ", stack["id"], "POLL_TEMP_URL")
        assert hearth.outputs("occ")["occ"]["request"]["metadata_url"] == url  # the guest's URL lives on

        result, doc, second_run = run_occ(occ_bin, "request", occ["request"], tmp_path / "occ")
        assert doc is not None and configs(doc) == BOTH, result.stderr[-3000:]
        print(f"os-collect-config runs: {first_run:.2f} s, {second_run:.2f} s")

        hearth.delete("occ")
        assert hearth.http.get(url, timeout=10).status_code in (403, 404)
    finally:
        stop_server(hearth)
