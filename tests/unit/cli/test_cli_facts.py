"""`hearth fact list|show|set|delete` through CliRunner against a real server on 127.0.0.1."""

from __future__ import annotations

import json

from click.testing import CliRunner

from engine.cli import cli
from tests.support import start_server, stop_server

TEMPLATE = "heat_template_version: 2018-08-31\nresources:\n  v: {type: OS::Heat::Value, properties: {value: 1}}\n"


def test_facts_are_set_listed_shown_and_deleted_from_the_command_line(tmp_path):
    hearth = start_server(tmp_path)
    try:
        hearth.create_stack("cli", TEMPLATE)
        hearth.wait_stack("cli", ("CREATE_COMPLETE",))

        def hearth_cli(*args):
            result = CliRunner().invoke(cli, ["--url", hearth.url, "fact", *args])
            assert "Traceback" not in result.output
            return result

        assert hearth_cli("set", "cli", "cluster/name", "blue").exit_code == 0
        shown = hearth_cli("set", "cli", "cluster/size", "3", "--json", "-f", "json")
        assert json.loads(shown.output)["value"] == 3
        assert json.loads(hearth_cli("list", "cli", "-f", "json").output) == {"cluster/name": "blue", "cluster/size": 3}
        assert "cluster/size" in hearth_cli("list", "cli", "--prefix", "cluster/s").output
        assert hearth_cli("show", "cli", "cluster/name", "-f", "value", "-c", "value").output.strip() == "blue"
        refused = hearth_cli("set", "cli", "cluster/name", "red", "--cas", "0")
        assert refused.exit_code != 0 and "compare-and-set refused" in refused.output
        bad = hearth_cli("set", "cli", "k", "{", "--json")
        assert bad.exit_code != 0 and "not JSON" in bad.output
        assert (
            hearth_cli("delete", "cli", "cluster/name", "--cas", "1").output.strip() == "deleted cluster/name (index 3)"
        )
        assert "no fact 'cluster/name'" in hearth_cli("show", "cli", "cluster/name").output
    finally:
        stop_server(hearth)
