"""Scaling signals over HTTP on a real server: the policy's signed alarm_url takes Aodh's webhook
body without a credential, the orchestration API's resource signal answers Heat's `null`, and a
refused signal answers 409 with a JSON reason; a tampered or deleted policy's URL grants nothing."""

from __future__ import annotations

import json

import requests

from tests.support import wait_for

TEMPLATE = {
    "heat_template_version": "2016-10-14",
    "resources": {
        "group": {
            "type": "OS::Heat::AutoScalingGroup",
            "properties": {"min_size": 1, "max_size": 3, "resource": {"type": "OS::Heat::None"}},
        },
        "up": {
            "type": "OS::Heat::ScalingPolicy",
            "properties": {
                "auto_scaling_group_id": {"get_resource": "group"},
                "scaling_adjustment": 1,
                "adjustment_type": "change_in_capacity",
                "cooldown": 3600,
            },
        },
    },
    "outputs": {
        "size": {"value": {"get_attr": ["group", "current_size"]}},
        "alarm_url": {"value": {"get_attr": ["up", "alarm_url"]}},
        "signal_url": {"value": {"get_attr": ["up", "signal_url"]}},
    },
}

AODH_BODY = {
    "alarm_id": "b5a9e5c4-5f0e-4bd8-bd55-8a3b4e0b2d11",
    "alarm_name": "cpu_high",
    "severity": "low",
    "previous": "ok",
    "current": "alarm",
    "reason": "Transition to alarm due to 1 samples outside threshold, most recent: 92.0",
    "reason_data": {"type": "threshold", "disposition": "outside", "count": 1, "most_recent": 92.0},
}


def test_alarm_url_signal_url_and_refusals(hearth_on):
    server = hearth_on
    server.create_stack("web", json.dumps(TEMPLATE))
    stack = server.wait_stack("web", ("CREATE_COMPLETE",))
    assert stack["stack_status"] == "CREATE_COMPLETE"
    out = server.outputs("web")
    assert out["signal_url"] == f"{server.url}/v1/admin/stacks/web/{stack['id']}/resources/up/signal"
    # resource show masks the signed URL (a credential); get_attr gives it.
    shown = server.http.get(f"{server.api}/stacks/web/{stack['id']}/resources/up", timeout=30).json()["resource"]
    assert shown["attributes"]["alarm_url"] != out["alarm_url"]

    # Aodh's webhook POST to the alarm_url, with no credential.
    answer = requests.post(out["alarm_url"], json=AODH_BODY, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["scaled"] is True and answer.json()["to"] == 2
    wait_for(lambda: server.outputs("web")["size"] == 2, 30, message="the group to grow")

    # In cooldown: the alarm's next POST, and a user's signal, are refused with the reason.
    def settled():
        meta = server.http.get(f"{server.api}/stacks/web/{stack['id']}/resources/group/metadata", timeout=30)
        return meta.json()["metadata"].get("scaling_in_progress") is False

    wait_for(settled, 30, message="the scaling to end")
    again = requests.post(out["alarm_url"], json=AODH_BODY, timeout=30)
    assert again.status_code == 409
    assert "in cooldown until" in again.json()["error"]["message"]
    user = server.http.post(out["signal_url"], json=AODH_BODY, timeout=30)
    assert user.status_code == 409 and "cooldown 3600 s" in user.text
    # An alarm back to ok is no action, not a refusal.
    ok = requests.post(out["alarm_url"], json={**AODH_BODY, "previous": "alarm", "current": "ok"}, timeout=30)
    assert ok.status_code == 200 and ok.json()["scaled"] is False

    # A tampered URL grants nothing.
    tampered = out["alarm_url"].replace("signature=", "signature=x")
    assert requests.post(tampered, json=AODH_BODY, timeout=30).status_code == 403
    # Nor does the URL of a deleted policy.
    server.delete("web")
    gone = requests.post(out["alarm_url"], json=AODH_BODY, timeout=30)
    assert gone.status_code == 403 and "no longer grants" in gone.json()["error"]["message"]
