"""Heat's deployment signal rules and derived-config inputs, with literals."""
from __future__ import annotations

from engine import software
from engine.store.models import SoftwareConfig


def config(outputs):
    return SoftwareConfig(id="c", name="n", group="script", project="p",
                          body={"config": "", "inputs": [], "outputs": outputs, "options": None})


def test_missing_zero_or_string_zero_code_is_success():
    for details in ({}, {"deploy_status_code": 0}, {"deploy_status_code": "0"}, {"deploy_status_code": None}, None):
        status, reason, _ = software.evaluate_signal(config([]), details)
        assert (status, reason) == ("COMPLETE", "Outputs received")


def test_non_zero_code_fails_with_heats_reason_and_stderr():
    status, reason, outputs = software.evaluate_signal(config([]), {"deploy_status_code": 2, "deploy_stderr": "boom\n"})
    assert status == "FAILED"
    assert reason.startswith("deploy_status_code : Deployment exited with non-zero status code: 2")
    assert reason.endswith("deploy_stderr : boom")
    assert outputs == {"deploy_stdout": None, "deploy_stderr": "boom\n", "deploy_status_code": 2}


def test_only_declared_outputs_are_kept_and_error_output_fails():
    outputs = [{"name": "url"}, {"name": "problem", "error_output": True}]
    status, _, values = software.evaluate_signal(config(outputs), {"url": "http://x", "junk": 1})
    assert status == "COMPLETE" and values["url"] == "http://x" and "junk" not in values
    status, reason, _ = software.evaluate_signal(config(outputs), {"problem": "no disk"})
    assert status == "FAILED" and reason == "problem : no disk"


def test_derived_inputs_are_declared_then_extra_then_deploy_inputs():
    source = SoftwareConfig(id="c", name="n", group="script", project="p", body={
        "config": "", "inputs": [{"name": "a", "default": 1}, {"name": "b", "type": "Number"}], "outputs": []})
    base = software.deploy_inputs(server_id="s", action="CREATE", stack_name="st", stack_id="id",
                                  resource_name="r", transport="NO_SIGNAL", signal_url="http://x")
    inputs = software.derived_inputs(source, {"b": 5, "extra": "e"}, base)
    assert [(i["name"], i["value"]) for i in inputs[:3]] == [("a", 1), ("b", 5), ("extra", "e")]
    assert inputs[0]["type"] == "String" and inputs[1]["type"] == "Number"
    assert [i["name"] for i in inputs[3:]] == ["deploy_server_id", "deploy_action", "deploy_stack_id",
                                               "deploy_resource_name", "deploy_signal_transport"]


def test_signal_inputs_present_for_signalling_transports():
    base = software.deploy_inputs(server_id="s", action="UPDATE", stack_name="st", stack_id="id",
                                  resource_name="r", transport="CFN_SIGNAL", signal_url="http://x/sig")
    values = {name: value for name, _, value in base}
    assert values["deploy_signal_id"] == "http://x/sig" and values["deploy_signal_verb"] == "POST"
    assert values["deploy_stack_id"] == "st/id"


def test_clean_io_drops_nulls_and_false_replace_on_change():
    assert software.clean_io([{"name": "a", "default": None, "replace_on_change": False, "type": "String"}]) == [
        {"name": "a", "type": "String"}]
