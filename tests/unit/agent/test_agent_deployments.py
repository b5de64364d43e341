"""agent.deployments: done keys, the done ledger, input normalisation and component entries."""

import json
import stat

from agent.deployments import (
    DoneLedger,
    config_checksum,
    done_key,
    hook_name,
    input_value,
    prepare,
    wants_signal,
)


def entry(**changes):
    base = {
        "id": "dep-1",
        "name": "10_app",
        "group": "script",
        "config": "#!/bin/sh\necho hi\n",
        "inputs": [
            {"name": "deploy_action", "type": "String", "value": "CREATE"},
            {"name": "deploy_signal_transport", "type": "String", "value": "HEAT_SIGNAL"},
        ],
        "outputs": [],
        "options": None,
    }
    base.update(changes)
    return base


def test_done_key_is_stable_and_ignores_key_order():
    first = entry(config={"a": 1, "b": [1, 2]})
    second = json.loads(json.dumps(entry(config={"b": [1, 2], "a": 1})))
    assert done_key(first) == done_key(second)
    assert config_checksum({"a": 1, "b": 2}) == config_checksum({"b": 2, "a": 1})


def test_done_key_changes_with_id_action_and_config():
    keys = {
        done_key(entry()),
        done_key(entry(id="dep-2")),
        done_key(entry(config="#!/bin/sh\necho other\n")),
        done_key(entry(inputs=[{"name": "deploy_action", "type": "String", "value": "UPDATE"}])),
    }
    assert len(keys) == 4


def test_done_key_ignores_name_and_other_inputs():
    assert done_key(entry()) == done_key(entry(name="20_renamed"))


def test_ledger_marks_done_without_copying_secrets(tmp_path):
    ledger = DoneLedger(tmp_path / "deployed")
    secret = entry(inputs=entry()["inputs"] + [{"name": "deploy_password", "type": "String", "value": "s3cret"}])
    key = done_key(secret)
    assert not ledger.is_done(key)
    ledger.mark_done(key, secret, 0)
    assert ledger.is_done(key)
    marker = ledger.path(key)
    assert stat.S_IMODE(marker.stat().st_mode) == 0o600
    record = json.loads(marker.read_text())
    assert record["id"] == "dep-1" and record["action"] == "CREATE"
    assert "s3cret" not in marker.read_text()


def test_prepare_converts_string_inputs_like_heat_agents():
    original = entry(
        inputs=[
            {"name": "port", "type": "String", "value": 8080},
            {"name": "flag", "type": "String", "value": True},
            {"name": "count", "type": "Number", "value": 3},
            {"name": "text", "type": "String", "value": "kept"},
            {"name": "no_value", "type": "String"},
        ]
    )
    prepared = prepare(original)
    values = {i["name"]: i.get("value", "<absent>") for i in prepared["inputs"]}
    assert values == {"port": "8080", "flag": "True", "count": 3, "text": "kept", "no_value": "<absent>"}
    assert original["inputs"][0]["value"] == 8080  # the original entry is not changed


def test_prepare_picks_component_config_for_the_action():
    component = entry(
        group="component",
        config={
            "configs": [
                {"actions": ["CREATE"], "tool": "script", "config": "create"},
                {"actions": ["UPDATE"], "tool": "puppet", "config": "update"},
            ]
        },
    )
    prepared = prepare(component)
    assert (prepared["group"], prepared["config"]) == ("script", "create")
    update = dict(component, inputs=[{"name": "deploy_action", "type": "String", "value": "UPDATE"}])
    assert (prepare(update)["group"], prepare(update)["config"]) == ("puppet", "update")
    delete = dict(component, inputs=[{"name": "deploy_action", "type": "String", "value": "DELETE"}])
    assert prepare(delete) is None
    assert prepare(entry(group="component", config={"configs": []})) is None
    assert prepare(entry(group="component", config="not a map")) is None


def test_helpers():
    assert hook_name("Heat::Ungrouped") == "HeatUngrouped"
    assert hook_name("docker-compose") == "docker-compose"
    assert hook_name("../script") == "script"
    assert input_value(entry(), "deploy_action") == "CREATE"
    assert input_value(entry(), "missing", "dflt") == "dflt"
    assert wants_signal(entry())
    assert not wants_signal(entry(inputs=[{"name": "deploy_signal_transport", "type": "String", "value": "NO_SIGNAL"}]))
