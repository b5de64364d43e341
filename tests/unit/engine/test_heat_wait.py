"""NO_SIGNAL wait-condition handles on real stacks (SQLite file and PostgreSQL): their wait completes at once."""

from __future__ import annotations

import json

from engine.guest.service import GuestAuth
from tests.support import create, settle, wait_for


def statuses(service, stack_id):
    return {r["resource_name"]: r["resource_status"] for r in service.resources.list_resources("admin", stack_id)}


def data(service, stack_id, output):
    return json.loads(service.stacks.show_output("admin", stack_id, output)["output_value"])


SILENT = """heat_template_version: 2018-08-31
parameters:
  count: {type: number, default: 3}
resources:
  silent: {type: OS::Heat::WaitConditionHandle, properties: {signal_transport: NO_SIGNAL}}
  silent_wait:
    type: OS::Heat::WaitCondition
    properties: {handle: {get_resource: silent}, count: {get_param: count}, timeout: 600}
  token: {type: OS::Heat::WaitConditionHandle}
  token_wait: {type: OS::Heat::WaitCondition, properties: {handle: {get_resource: token}, timeout: 600}}
outputs:
  silent_data: {value: {get_attr: [silent_wait, data]}}
  token_data: {value: {get_attr: [token_wait, data]}}
  token: {value: {get_attr: [token, token]}}
"""


def test_a_no_signal_handle_completes_its_wait_at_once_and_a_token_handle_still_waits(service):
    stack_id = create(service, "silent", SILENT)
    wait_for(
        lambda: statuses(service, stack_id).get("silent_wait") == "CREATE_COMPLETE",
        20,
        message="the silent wait to complete",
    )
    assert statuses(service, stack_id)["token_wait"] == "CREATE_IN_PROGRESS"
    assert data(service, stack_id, "silent_data") == {"1": None, "2": None, "3": None}
    signals = [
        e["resource_status_reason"]
        for e in service.resources.list_events("admin", stack_id)
        if e["resource_name"] == "silent" and e["resource_status_reason"].startswith("Signal:")
    ]
    assert signals == ["Signal: Signal 1 received", "Signal: Signal 2 received", "Signal: Signal 3 received"]
    # The token handle is made beside the silent one: wait for it, not for the other's wait.
    token = wait_for(
        lambda: service.stacks.show_output("admin", stack_id, "token")["output_value"], 20, message="the token handle"
    )
    handle_id = service.resources.show_resource("admin", stack_id, "token")["physical_resource_id"]
    service.guest.signal_handle(GuestAuth(bearer=token), handle_id, {"id": "done", "data": "yes"}, "")
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    assert data(service, stack_id, "token_data") == {"done": "yes"}


SILENT_ONLY = """heat_template_version: 2018-08-31
parameters:
  count: {type: number, default: 1}
resources:
  silent: {type: OS::Heat::WaitConditionHandle, properties: {signal_transport: NO_SIGNAL}}
  silent_wait:
    type: OS::Heat::WaitCondition
    properties: {handle: {get_resource: silent}, count: {get_param: count}, timeout: 600}
outputs:
  silent_data: {value: {get_attr: [silent_wait, data]}}
"""


def test_an_update_raising_the_count_waits_again_and_completes_at_once(service):
    stack_id = create(service, "more", SILENT_ONLY)
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    assert data(service, stack_id, "silent_data") == {"1": None}
    service.operations.update_stack("admin", stack_id, {"parameters": {"count": "4"}}, patch=True)
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "UPDATE_COMPLETE", stack["stack_status_reason"]
    assert statuses(service, stack_id) == {"silent": "CREATE_COMPLETE", "silent_wait": "UPDATE_COMPLETE"}
    # The earlier signal stays, as in Heat; the update adds what the new count needs.
    assert data(service, stack_id, "silent_data") == {"1": None, "2": None, "3": None, "4": None}


def test_a_handle_not_made_yet_has_no_attributes_and_no_half_command_line():
    """As Heat's _resolve_attribute: nothing before the handle has an id, and no curl_cli
    without both its token and its endpoint (an output read mid-create got a curl line with
    an empty token and no URL)."""
    from engine.resources.heat_wait import WaitConditionHandle

    for name in ("token", "endpoint", "curl_cli", "signal"):
        assert WaitConditionHandle.attribute(None, name, None, {}, {}) is None, name
    assert WaitConditionHandle.attribute(None, "curl_cli", "h-1", {}, {}) is None
