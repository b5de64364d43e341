"""Facts end to end: a real server on 127.0.0.1, two real agent processes (the `local` driver) and
the real script hook. A deployment on server a publishes a fact with `hearth-agent fact set`; a
deployment on server b reads it through `get_attr` on OS::Hearth::Facts (and from the facts file
the agent gives every hook); when a's fact changes, b's deployment runs again with the new value."""

from __future__ import annotations

import pytest

from tests.support import start_server, stop_server, wait_for

pytestmark = pytest.mark.e2e

EXCHANGE = """
heat_template_version: 2018-08-31
parameters:
  greeting: {type: string, default: hello}
resources:
  facts: {type: OS::Hearth::Facts}
  a:
    type: OS::Nova::Server
    properties: {name: a, image: any, flavor: any, user_data_format: SOFTWARE_CONFIG}
  b:
    type: OS::Nova::Server
    properties: {name: b, image: any, flavor: any, user_data_format: SOFTWARE_CONFIG}
  publish:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      inputs: [{name: greeting}]
      config: |
        #!/bin/sh -e
        hearth-agent fact set greeting "$greeting"
  read:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      inputs: [{name: heard}]
      outputs: [{name: heard}, {name: in_file}]
      config: |
        #!/bin/sh -e
        printf '%s' "$heard" > "$heat_outputs_path.heard"
        python3 -c 'import json, os, sys
        facts = json.load(open(os.environ["HEARTH_FACTS_FILE"]))
        sys.stdout.write(facts["own_prefix"] + "=" + str(facts["facts"].get("servers/a/greeting")))' \\
          > "$heat_outputs_path.in_file"
  publisher:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {get_resource: publish}
      server: {get_resource: a}
      input_values: {greeting: {get_param: greeting}}
  reader:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {get_resource: read}
      server: {get_resource: b}
      input_values: {heard: {get_attr: [facts, servers/a/greeting]}}
outputs:
  heard: {value: {get_attr: [reader, heard]}}
  in_file: {value: {get_attr: [reader, in_file]}}
"""


def test_two_agents_exchange_facts_and_the_reader_re_runs_when_the_fact_changes(tmp_path):
    hearth = start_server(tmp_path, fact_rerun_delay=0.2)
    try:
        hearth.create_stack("exchange", EXCHANGE)
        stack = hearth.wait_stack("exchange", ("CREATE_COMPLETE",), timeout=120)
        assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
        # Whichever ran first, b's deployment ends up with a's greeting: at once, or re-run
        # once a published it.
        heard = wait_for(
            lambda: (lambda out: out if out["heard"] == "hello" else None)(hearth.outputs("exchange")),
            60,
            0.1,
            "b's deployment to hear a's greeting",
        )
        assert heard["in_file"] == "servers/b/=hello"  # the facts file b's hook was given

        # A new greeting: the update runs a's deployment again, which publishes it; b's
        # deployment, which read the old one when the update began, is re-run with the new one.
        answer = hearth.http.patch(
            f"{hearth.api}/stacks/exchange/{stack['id']}", json={"parameters": {"greeting": "bonjour"}}, timeout=30
        )
        assert answer.status_code == 202, answer.text
        wait_for(
            lambda: hearth.outputs("exchange")["heard"] == "bonjour",
            90,
            0.1,
            "b's deployment to be re-run with the new greeting",
        )
        assert hearth.outputs("exchange")["in_file"] == "servers/b/=bonjour"
        facts = hearth.http.get(f"{hearth.api}/stacks/exchange/{stack['id']}/facts", timeout=30).json()
        (greeting,) = facts["facts"]
        assert (greeting["key"], greeting["value"]) == ("servers/a/greeting", "bonjour")
        assert greeting["writer"] == hearth.resources("exchange")["a"]["physical_resource_id"]
        events = hearth.http.get(f"{hearth.api}/stacks/exchange/{stack['id']}/events?sort_dir=asc", timeout=30)
        steps = [(e["resource_name"], e["resource_status"]) for e in events.json()["events"]]
        published = len(steps) - steps[::-1].index(("publisher", "UPDATE_COMPLETE"))
        assert ("reader", "UPDATE_COMPLETE") in steps[published:]  # re-run after a published
        final = hearth.wait_stack("exchange", ("UPDATE_COMPLETE",), timeout=60)
        assert final["stack_status"] == "UPDATE_COMPLETE", final["stack_status_reason"]
    finally:
        stop_server(hearth)
