"""Heat's deployment signal rules and derived-config inputs, with literals."""

from __future__ import annotations

import pytest

from engine import software_formats
from engine.guest import signals
from engine.store.models import SoftwareConfig


def config(outputs):
    return SoftwareConfig(
        id="c",
        name="n",
        group="script",
        project="p",
        body={"config": "", "inputs": [], "outputs": outputs, "options": None},
    )


def test_missing_zero_or_string_zero_code_is_success():
    for details in ({}, {"deploy_status_code": 0}, {"deploy_status_code": "0"}, {"deploy_status_code": None}, None):
        status, reason, _ = signals.evaluate_signal(config([]), details)
        assert (status, reason) == ("COMPLETE", "Outputs received")


def test_non_zero_code_fails_with_heats_reason_and_stderr():
    status, reason, outputs = signals.evaluate_signal(config([]), {"deploy_status_code": 2, "deploy_stderr": "boom\n"})
    assert status == "FAILED"
    assert reason.startswith("deploy_status_code : Deployment exited with non-zero status code: 2")
    assert reason.endswith("deploy_stderr : boom")
    assert outputs == {"deploy_stdout": None, "deploy_stderr": "boom\n", "deploy_status_code": 2}


def test_only_declared_outputs_are_kept_and_error_output_fails():
    outputs = [{"name": "url"}, {"name": "problem", "error_output": True}]
    status, _, values = signals.evaluate_signal(config(outputs), {"url": "http://x", "junk": 1})
    assert status == "COMPLETE" and values["url"] == "http://x" and "junk" not in values
    status, reason, _ = signals.evaluate_signal(config(outputs), {"problem": "no disk"})
    assert status == "FAILED" and reason == "problem : no disk"


def test_derived_inputs_are_declared_then_extra_then_deploy_inputs():
    source = SoftwareConfig(
        id="c",
        name="n",
        group="script",
        project="p",
        body={"config": "", "inputs": [{"name": "a", "default": 1}, {"name": "b", "type": "Number"}], "outputs": []},
    )
    base = software_formats.deploy_inputs(
        server_id="s",
        action="CREATE",
        stack_name="st",
        stack_id="id",
        resource_name="r",
        transport="NO_SIGNAL",
        signal_url="http://x",
    )
    inputs = software_formats.derived_inputs(source, {"b": 5, "extra": "e"}, base)
    assert [(i["name"], i["value"]) for i in inputs[:3]] == [("a", 1), ("b", 5), ("extra", "e")]
    assert inputs[0]["type"] == "String" and inputs[1]["type"] == "Number"
    assert [i["name"] for i in inputs[3:]] == [
        "deploy_server_id",
        "deploy_action",
        "deploy_stack_id",
        "deploy_resource_name",
        "deploy_signal_transport",
    ]


def test_signal_inputs_present_for_signalling_transports():
    base = software_formats.deploy_inputs(
        server_id="s",
        action="UPDATE",
        stack_name="st",
        stack_id="id",
        resource_name="r",
        transport="CFN_SIGNAL",
        signal_url="http://x/sig",
    )
    values = {name: value for name, _, value in base}
    assert values["deploy_signal_id"] == "http://x/sig" and values["deploy_signal_verb"] == "POST"
    assert values["deploy_stack_id"] == "st/id"


def test_clean_io_drops_nulls_and_false_replace_on_change():
    assert software_formats.clean_io(
        [{"name": "a", "default": None, "replace_on_change": False, "type": "String"}]
    ) == [{"name": "a", "type": "String"}]


def _inputs(transport, principal=None, url="http://h/guest/v1/deployments/e/signal?expires=1&signature=s"):
    return software_formats.deploy_inputs(
        server_id="s",
        action="CREATE",
        stack_name="st",
        stack_id="id",
        resource_name="r",
        transport=transport,
        signal_url=url,
        principal=principal,
    )


PRINCIPAL = software_formats.SignalPrincipal(
    auth_url="http://h/guest/v1",
    username="st-r-0123",
    user_id="d-1",
    password="hgd_secret",
    project_id="admin",
    queue_id="st-r-0123",
)
BASE = ["deploy_server_id", "deploy_action", "deploy_stack_id", "deploy_resource_name", "deploy_signal_transport"]
CREDENTIALS = ["deploy_auth_url", "deploy_username", "deploy_user_id", "deploy_password", "deploy_project_id"]


def test_each_transport_gives_heats_inputs_in_heats_order_then_hearths_signal_url():
    cases = {
        "CFN_SIGNAL": (BASE + ["deploy_signal_id", "deploy_signal_verb"], "POST"),
        "TEMP_URL_SIGNAL": (BASE + ["deploy_signal_id", "deploy_signal_verb"], "PUT"),
        # Exactly Heat's: no signal URL, so heat-config-notify uses Keystone (engine/guest/transports/heat.py).
        "HEAT_SIGNAL": (BASE + CREDENTIALS, None),
        # Exactly Heat's too: heat-config-notify posts on the queue (engine/guest/queues.py).
        "ZAQAR_SIGNAL": (BASE + CREDENTIALS + ["deploy_queue_id"], None),
        "NO_SIGNAL": (BASE, None),
    }
    for transport, (names, verb) in cases.items():
        inputs = _inputs(transport, PRINCIPAL)
        assert [name for name, _, _ in inputs] == names, transport
        values = {name: value for name, _, value in inputs}
        assert values["deploy_signal_transport"] == transport
        assert values.get("deploy_signal_verb") == verb
        assert all(description for _, description, _ in inputs)


def test_credential_transports_carry_the_principal_and_refuse_to_go_without_it():
    values = {name: value for name, _, value in _inputs("ZAQAR_SIGNAL", PRINCIPAL)}
    assert (
        values["deploy_auth_url"],
        values["deploy_username"],
        values["deploy_user_id"],
        values["deploy_password"],
        values["deploy_project_id"],
        values["deploy_queue_id"],
    ) == ("http://h/guest/v1", "st-r-0123", "d-1", "hgd_secret", "admin", "st-r-0123")
    with pytest.raises(ValueError, match="HEAT_SIGNAL needs the deployment's signal principal"):
        _inputs("HEAT_SIGNAL", None)


def test_substitution_replaces_exact_single_key_maps_only():
    config = {
        "a": {"get_input": "x"},
        "list": [{"get_input": "y"}, "plain", 3],
        "two_keys": {"get_input": "x", "other": 1},
        "not_a_name": {"get_input": ["x"]},
        "nested": {"deeper": {"get_input": "deploy_action"}},
    }
    result = software_formats.substitute_inputs(config, {"x": 1, "y": [1, 2], "deploy_action": "UPDATE"})
    assert result == {
        "a": 1,
        "list": [[1, 2], "plain", 3],
        "two_keys": {"get_input": "x", "other": 1},
        "not_a_name": {"get_input": ["x"]},
        "nested": {"deeper": "UPDATE"},
    }
    assert software_formats.substitute_inputs({"k": {"get_input": "missing"}}, {}) == {"k": None}
    with pytest.raises(software_formats.MissingInput):
        software_formats.substitute_inputs({"k": {"get_input": "missing"}}, {}, strict=True)
    # another key leaves get_input alone for the tool to see
    assert software_formats.substitute_inputs({"k": {"get_input": "x"}, "j": {"$in": "x"}}, {"x": 5}, "$in") == {
        "k": {"get_input": "x"},
        "j": 5,
    }
    assert (
        software_formats.substitute_inputs("text", {}) == "text"
        and software_formats.substitute_inputs(None, {}) is None
    )


def test_component_actions_are_the_union_of_its_entries():
    config = {
        "configs": [
            {"actions": ["CREATE", "UPDATE"], "tool": "script"},
            {"actions": ["DELETE"], "tool": "script"},
            "junk",
        ]
    }
    assert software_formats.component_actions(config) == {"CREATE", "UPDATE", "DELETE"}
    assert software_formats.component_actions("not a map") == set()
