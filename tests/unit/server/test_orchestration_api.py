"""The orchestration API in Heat's v1 shape, as python-heatclient drives it (real HTTP)."""

from __future__ import annotations

from tests.support import wait_for

TEMPLATE = {
    "heat_template_version": "2016-10-14",
    "parameters": {"size": {"type": "number", "default": 1}, "motd": {"type": "string"}},
    "resources": {
        "note": {"type": "OS::Heat::Value", "properties": {"value": {"get_file": "file:///tmp/motd.txt"}}},
        "sized": {"type": "My::Value", "properties": {"value": {"get_param": "size"}}},
    },
    "outputs": {
        "note": {"value": {"get_attr": ["note", "value"]}, "description": "the note"},
        "size": {"value": {"get_attr": ["sized", "value"]}},
    },
}


def test_create_as_heatclient_sends_it_then_show_by_name_and_id(shared_hearth):
    hearth = shared_hearth
    body = {
        "stack_name": "heatclient",
        "disable_rollback": True,
        "parameters": {"size": "3", "motd": "hi"},
        # heatclient sends the environment files both merged (environment) and by name; Heat
        # reads them by name and leaves the merged one aside.
        "template": TEMPLATE,
        "files": {
            "file:///tmp/motd.txt": "welcome\n",
            "file:///tmp/env.yaml": '{"parameters": {"size": 5}, "resource_registry": {"My::Value": "OS::Heat::Value"}}',
        },
        "environment": {"parameters": {"size": 5}, "resource_registry": {"My::Value": "OS::Heat::Value"}},
        "environment_files": ["file:///tmp/env.yaml"],
    }
    created = hearth.http.post(f"{hearth.api}/stacks", json=body, timeout=30)
    assert created.status_code == 201, created.text
    stack_id = created.json()["stack"]["id"]
    assert created.json()["stack"]["links"][0]["rel"] == "self"
    redirect = hearth.http.get(f"{hearth.api}/stacks/heatclient", allow_redirects=False, timeout=10)
    assert redirect.status_code == 302
    assert redirect.headers["Location"].endswith(f"/v1/admin/stacks/heatclient/{stack_id}")
    sub = hearth.http.get(f"{hearth.api}/stacks/heatclient/events?sort_dir=asc", allow_redirects=False, timeout=10)
    assert sub.headers["Location"].endswith(f"/stacks/heatclient/{stack_id}/events?sort_dir=asc")
    by_id = hearth.http.get(f"{hearth.api}/stacks/{stack_id}", allow_redirects=False, timeout=10)
    assert by_id.status_code == 302
    stack = wait_for(
        lambda: (lambda s: s if s["stack_status"] != "CREATE_IN_PROGRESS" else None)(hearth.stack("heatclient")),
        20,
        message="the create",
    )
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    outputs = {o["output_key"]: o for o in stack["outputs"]}
    assert outputs["note"]["output_value"] == "welcome\n" and outputs["note"]["description"] == "the note"
    assert outputs["size"]["output_value"] == 5  # environment files win over -P, as in Heat
    assert stack["parameters"]["size"] == "5" and stack["parameters"]["OS::stack_name"] == "heatclient"
    listed = hearth.http.get(f"{hearth.api}/stacks", timeout=10).json()["stacks"]
    assert [s["stack_name"] for s in listed] == ["heatclient"]
    assert set(listed[0]) >= {"id", "stack_name", "stack_status", "creation_time", "updated_time", "links"}
    one = hearth.http.get(f"{hearth.api}/stacks/heatclient/outputs/size", timeout=10).json()["output"]
    assert one == {"output_key": "size", "output_value": 5, "description": "No description given"}
    resources = hearth.http.get(f"{hearth.api}/stacks/heatclient/resources", timeout=10).json()["resources"]
    assert {r["resource_name"]: r["resource_type"] for r in resources} == {
        "note": "OS::Heat::Value",
        "sized": "My::Value",
    }
    shown = hearth.http.get(f"{hearth.api}/stacks/heatclient/resources/note", timeout=10).json()["resource"]
    assert shown["attributes"] == {"value": "welcome\n"} and shown["resource_status"] == "CREATE_COMPLETE"
    deleted = hearth.http.delete(f"{hearth.api}/stacks/heatclient", allow_redirects=False, timeout=10)
    assert deleted.status_code == 302
    final = hearth.http.delete(deleted.headers["Location"], timeout=10)
    assert final.status_code == 204


def test_a_stack_arn_redirects_to_the_url_it_names(shared_hearth):
    # Heat's lookup of `stacks/arn:openstack:heat::<tenant>:stacks/<name>/<id>[/sub-path]`
    # (heatclient sends a nested stack's get_resource that way): a redirect, no look-up.
    hearth = shared_hearth
    stack_id = hearth.create_stack("arned", "heat_template_version: 2018-08-31\nresources: {}\n").json()["stack"]["id"]
    arn = f"arn%3Aopenstack%3Aheat%3A%3Aadmin%3Astacks/arned/{stack_id}"
    sub = hearth.http.get(f"{hearth.api}/stacks/{arn}/resources/x?with_attr=a", allow_redirects=False, timeout=10)
    assert sub.status_code == 302
    assert sub.headers["Location"].endswith(f"/v1/admin/stacks/arned/{stack_id}/resources/x?with_attr=a")
    plain = hearth.http.get(f"{hearth.api}/stacks/arn:openstack:heat::admin:stacks/arned/{stack_id}", timeout=10)
    assert plain.status_code == 200 and plain.json()["stack"]["id"] == stack_id
    bad = hearth.http.get(f"{hearth.api}/stacks/arn:openstack:heat::admin:bad/x/resources", timeout=10)
    assert bad.status_code == 404 and bad.json()["error"]["type"] == "EntityNotFound"


def test_wrong_name_for_an_id_is_not_found(shared_hearth):
    hearth = shared_hearth
    template = "heat_template_version: 2018-08-31\nresources: {}\n"
    stack_id = hearth.create_stack("named", template).json()["stack"]["id"]
    response = hearth.http.get(f"{hearth.api}/stacks/other/{stack_id}", timeout=10)
    assert response.status_code == 404
    assert hearth.http.get(f"{hearth.api}/stacks/named/{stack_id}", timeout=10).status_code == 200


def test_event_links_lead_to_the_event(shared_hearth):
    hearth = shared_hearth
    hearth.create_stack("linked", "heat_template_version: 2018-08-31\nresources:\n  v: {type: OS::Heat::None}\n")
    wait_for(lambda: hearth.stack("linked")["stack_status"] == "CREATE_COMPLETE", 20, message="create")
    events = hearth.http.get(f"{hearth.api}/stacks/linked/resources/v/events?sort_dir=asc", timeout=10).json()["events"]
    assert [e["resource_status"] for e in events] == ["CREATE_IN_PROGRESS", "CREATE_COMPLETE"]
    self_link = next(link["href"] for link in events[-1]["links"] if link["rel"] == "self")
    event = hearth.http.get(self_link, timeout=10).json()["event"]
    # One event's show adds its resource type and properties to what the list gives, as Heat's does.
    assert event == {**events[-1], "resource_type": "OS::Heat::None", "resource_properties": {}}
