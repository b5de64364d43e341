"""Stack operations after create over real HTTP, in Heat's v1 paths, methods, status codes and
shapes: update and its preview, actions, abandon and adopt, environment and files, resource
mark-unhealthy and signal, and the list filters."""

from __future__ import annotations

import pytest

from tests.support import wait_for

T1 = """heat_template_version: 2018-08-31
parameters:
  word: {type: string, default: one}
resources:
  value: {type: OS::Heat::Value, properties: {value: {get_param: word}}}
  steady: {type: OS::Heat::Value, properties: {value: fixed}}
outputs:
  word: {value: {get_attr: [value, value]}}
"""
T2 = T1.replace(
    "  steady: {type: OS::Heat::Value, properties: {value: fixed}}\n",
    "  added: {type: OS::Heat::Value, properties: {value: new}}\n",
)


def settled(hearth, name):
    return wait_for(
        lambda: (lambda s: s if not s["stack_status"].endswith("IN_PROGRESS") else None)(hearth.stack(name)),
        30,
        message=f"stack {name} to settle",
    )


def made(hearth, name, template=T1, **body):
    response = hearth.http.post(
        f"{hearth.api}/stacks",
        timeout=30,
        json={"stack_name": name, "template": template, "template_name": f"{name}.yaml", **body},
    )
    assert response.status_code == 201, response.text
    stack = settled(hearth, name)
    assert stack["stack_status"] in ("CREATE_COMPLETE", "ADOPT_COMPLETE"), stack["stack_status_reason"]
    return f"{hearth.api}/stacks/{name}/{stack['id']}"


def outputs(hearth, name):
    return {o["output_key"]: o["output_value"] for o in hearth.stack(name)["outputs"]}


def test_update_put_and_patch_answer_202_and_update(hearth):
    url = made(hearth, "up")
    put = hearth.http.put(url, json={"template": T2, "parameters": {"word": "two"}}, timeout=30)
    assert (put.status_code, put.text) == (202, "")
    assert settled(hearth, "up")["stack_status"] == "UPDATE_COMPLETE"
    assert outputs(hearth, "up") == {"word": "two"}
    assert set(hearth.resources("up")) == {"value", "added"}
    patch = hearth.http.patch(url, json={"parameters": {"word": "three"}}, timeout=30)
    assert patch.status_code == 202
    assert settled(hearth, "up")["stack_status"] == "UPDATE_COMPLETE"
    assert outputs(hearth, "up") == {"word": "three"}
    assert set(hearth.resources("up")) == {"value", "added"}  # PATCH kept the template
    bad = hearth.http.put(url, json={"template": T2, "parameters": {"nope": 1}}, timeout=30)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "template_invalid"
    for method in ("PUT", "PATCH"):
        lookup = hearth.http.request(method, f"{hearth.api}/stacks/up", json={}, allow_redirects=False, timeout=10)
        assert (lookup.status_code, lookup.headers["Location"]) == (302, url)


def test_previews_change_nothing(hearth):
    url = made(hearth, "pre")
    created = hearth.http.post(f"{hearth.api}/stacks/preview", timeout=30, json={"stack_name": "other", "template": T2})
    assert created.status_code == 200, created.text
    assert sorted(r["resource_name"] for r in created.json()["stack"]["resources"]) == ["added", "value"]
    for method, body, expected in (
        ("PUT", {"template": T2}, {"added": ["added"], "deleted": ["steady"]}),
        ("PATCH", {"parameters": {"word": "x"}}, {"updated": ["value"]}),
    ):
        answer = hearth.http.request(method, f"{url}/preview", json=body, timeout=30)
        assert answer.status_code == 200, answer.text
        changes = answer.json()["resource_changes"]
        assert set(changes) == {"added", "deleted", "replaced", "unchanged", "updated"}
        for kind, names in expected.items():
            assert [r["resource_name"] for r in changes[kind]] == names
    assert [s["stack_name"] for s in hearth.http.get(f"{hearth.api}/stacks", timeout=10).json()["stacks"]] == ["pre"]
    assert hearth.stack("pre")["stack_status"] == "CREATE_COMPLETE"


def test_actions_take_one_named_action(hearth):
    url = made(hearth, "act")
    for action, status in (("suspend", "SUSPEND_COMPLETE"), ("resume", "RESUME_COMPLETE"), ("check", "CHECK_COMPLETE")):
        answer = hearth.http.post(f"{url}/actions", json={action: None}, timeout=30)
        assert (answer.status_code, answer.text) == (200, "")
        assert settled(hearth, "act")["stack_status"] == status
    by_name = hearth.http.post(
        f"{hearth.api}/stacks/act/actions", json={"check": None}, allow_redirects=False, timeout=10
    )
    assert (by_name.status_code, by_name.headers["Location"]) == (302, f"{url}/actions")
    for body, message in (
        ({}, "exactly one of the actions"),
        (["suspend"], "exactly one of the actions"),
        ({"suspend": None, "resume": None}, "Multiple actions specified"),
        ({"explode": None}, "Invalid action explode specified"),
    ):
        refused = hearth.http.post(f"{url}/actions", json=body, timeout=10)
        assert refused.status_code == 400 and message in refused.json()["explanation"]
        assert refused.json()["error"]["type"] == "HTTPBadRequest"
    # As Heat: a resume of what is not suspended is tried, and fails on the resources.
    resumed = hearth.http.post(f"{url}/actions", json={"resume": None}, timeout=10)
    assert resumed.status_code == 200
    assert settled(hearth, "act")["stack_status"] == "RESUME_FAILED"


def test_environment_files_and_template_of_a_stack(hearth):
    url = made(
        hearth,
        "parts",
        T1.replace("value: fixed", "value: {get_file: motd.txt}"),
        files={"motd.txt": "hello\n"},
        parameters={"word": "given"},
        environment={"parameter_defaults": {"other": 1}},
    )
    environment = hearth.http.get(f"{url}/environment", timeout=10).json()
    assert environment["parameters"] == {"word": "given"}
    assert environment["parameter_defaults"] == {"other": 1}
    assert hearth.http.get(f"{url}/files", timeout=10).json() == {"motd.txt": "hello\n"}
    assert hearth.http.get(f"{url}/template", timeout=10).json()["resources"]["steady"]["properties"] == {
        "value": {"get_file": "motd.txt"}
    }
    for part in ("environment", "files", "template"):
        lookup = hearth.http.get(f"{hearth.api}/stacks/parts/{part}", allow_redirects=False, timeout=10)
        assert (lookup.status_code, lookup.headers["Location"]) == (302, f"{url}/{part}")


def test_abandon_then_adopt(hearth):
    url = made(hearth, "old")
    before = hearth.resources("old")
    data = hearth.http.delete(f"{url}/abandon", timeout=30)
    assert data.status_code == 200, data.text
    assert data.json()["resources"]["value"]["resource_id"] == before["value"]["physical_resource_id"]
    assert hearth.http.get(f"{hearth.api}/stacks/old", timeout=10).status_code == 404
    made(hearth, "new", adopt_stack_data=data.json())
    assert hearth.stack("new")["stack_status"] == "ADOPT_COMPLETE"
    assert {n: r["physical_resource_id"] for n, r in hearth.resources("new").items()} == {
        n: r["physical_resource_id"] for n, r in before.items()
    }


def test_mark_unhealthy_and_reset(hearth):
    url = made(hearth, "sick")
    marked = hearth.http.patch(
        f"{url}/resources/value", timeout=10, json={"mark_unhealthy": True, "resource_status_reason": "disk died"}
    )
    assert (marked.status_code, marked.text) == (200, "")
    row = hearth.resources("sick")["value"]
    assert (row["resource_status"], row["resource_status_reason"]) == ("CHECK_FAILED", "disk died")
    reset = hearth.http.patch(f"{url}/resources/value", json={"mark_unhealthy": "false"}, timeout=10)
    assert reset.status_code == 200
    assert hearth.resources("sick")["value"]["resource_status"] == "CHECK_COMPLETE"
    for body in (
        {},
        {"mark_unhealthy": "maybe"},
        {"mark_unhealthy": True, "colour": 1},
        {"mark_unhealthy": True, "resource_status_reason": 5},
    ):
        assert hearth.http.patch(f"{url}/resources/value", json=body, timeout=10).status_code == 400
    missing = hearth.http.patch(f"{url}/resources/nope", json={"mark_unhealthy": True}, timeout=10)
    assert missing.status_code == 404


def test_signal_clears_a_breakpoint(hearth):
    hooked = {"resource_registry": {"resources": {"value": {"hooks": "pre-create"}}}}
    hearth.http.post(
        f"{hearth.api}/stacks", timeout=30, json={"stack_name": "hook", "template": T1, "environment": hooked}
    ).raise_for_status()
    url = f"{hearth.api}/stacks/hook/{hearth.stack('hook')['id']}"

    def paused():  # as in Heat, only an event says so: the resource stays INIT_COMPLETE
        events = hearth.http.get(f"{url}/events", timeout=10).json()["events"]
        return any(e["resource_status_reason"] == "CREATE paused until Hook pre-create is cleared" for e in events)

    wait_for(paused, 20, message="the pause")
    wrong = hearth.http.post(f"{url}/resources/value/signal", json={"unset_hook": "pre-delete"}, timeout=10)
    assert wrong.status_code == 400
    cleared = hearth.http.post(f"{url}/resources/value/signal", json={"unset_hook": "pre-create"}, timeout=10)
    assert (cleared.status_code, cleared.json()) == (200, None)  # Heat answers `null`
    assert settled(hearth, "hook")["stack_status"] == "CREATE_COMPLETE"
    lookup = hearth.http.post(
        f"{hearth.api}/stacks/hook/resources/value/signal", json={}, allow_redirects=False, timeout=10
    )
    assert lookup.headers["Location"] == f"{url}/resources/value/signal"


def test_list_filters_and_resource_list_parameters(hearth):
    made(hearth, "web", tags="web,blue")
    made(hearth, "db", tags="db")

    def names(**params):
        answer = hearth.http.get(f"{hearth.api}/stacks", params=params, timeout=10)
        assert answer.status_code == 200, answer.text
        return [s["stack_name"] for s in answer.json()["stacks"]]

    assert names() == ["web", "db"]
    assert names(tags="web,blue") == ["web"]
    assert names(tags_any="db,blue") == ["web", "db"]
    assert names(not_tags_any="blue") == ["db"]
    assert names(name="db") == ["db"]
    assert names(status="CREATE_COMPLETE", sort_keys="stack_name") == ["db", "web"]
    assert names(sort_keys="stack_name", sort_dir="desc", limit=1) == ["web"]
    assert hearth.http.get(f"{hearth.api}/stacks", params={"show_nested": "perhaps"}, timeout=10).status_code == 400
    url = f"{hearth.api}/stacks/web/{hearth.stack('web')['id']}/resources"
    listed = hearth.http.get(url, params={"name": "value", "nested_depth": 2}, timeout=10)
    assert [r["resource_name"] for r in listed.json()["resources"]] == ["value"]
    refused = hearth.http.get(url, params={"colour": "red"}, timeout=10)
    assert refused.status_code == 400 and "colour" in refused.json()["explanation"]


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
def test_every_method_on_a_missing_stack_is_404(shared_hearth, method):
    answer = shared_hearth.http.request(method, f"{shared_hearth.api}/stacks/missing/actions", timeout=10)
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"


WAITS = """heat_template_version: 2018-08-31
resources:
  handle: {type: OS::Heat::WaitConditionHandle}
  wait: {type: OS::Heat::WaitCondition, properties: {handle: {get_resource: handle}, timeout: 600}}
"""


def test_a_cleared_breakpoint_and_a_cancel_are_done_though_their_message_was_lost(hearth, monkeypatch):
    """Both are stored before they are published (engine/orchestration/asked.py). With the
    message lost (the publish made to do nothing: fault injection), the engine driving the
    operation does them when it looks again after missed messages, as a replica does whenever
    its bridge to the others reconnects (and as the replica that takes an operation over does
    when it loads it: tests/e2e/test_replicas.py)."""
    scheduler = hearth.service.scheduler
    monkeypatch.setattr(scheduler, "unset_hook", lambda *args: None)
    monkeypatch.setattr(scheduler, "cancel", lambda *args, **kwargs: None)
    hooked = {"resource_registry": {"resources": {"value": {"hooks": "pre-create"}}}}
    for name, template, environment in (("hook", T1, hooked), ("waits", WAITS, {})):
        body = {"stack_name": name, "template": template, "environment": environment}
        hearth.http.post(f"{hearth.api}/stacks", timeout=30, json=body).raise_for_status()
    hook_url = f"{hearth.api}/stacks/hook/{hearth.stack('hook')['id']}"
    waits_url = f"{hearth.api}/stacks/waits/{hearth.stack('waits')['id']}"

    def paused():
        events = hearth.http.get(f"{hook_url}/events", timeout=10).json()["events"]
        return any(e["resource_status_reason"] == "CREATE paused until Hook pre-create is cleared" for e in events)

    wait_for(paused, 20, 0.1, message="the pause")
    wait_for(
        lambda: (
            hearth.http.get(f"{waits_url}/resources/wait", timeout=10).json()["resource"]["resource_status"]
            == "CREATE_IN_PROGRESS"
        ),
        20,
        0.1,
        message="the wait condition to wait",
    )
    cleared = hearth.http.post(f"{hook_url}/resources/value/signal", json={"unset_hook": "pre-create"}, timeout=10)
    assert cleared.status_code == 200
    cancelled = hearth.http.post(f"{waits_url}/actions", json={"cancel_without_rollback": None}, timeout=10)
    assert cancelled.status_code == 200, cancelled.text
    # Nothing was heard: both operations are as they were.
    assert hearth.stack("hook")["stack_status"] == "CREATE_IN_PROGRESS"
    assert hearth.stack("waits")["stack_status"] == "CREATE_IN_PROGRESS"

    hearth.service.runtime.notifier.publish_everything()  # what a reconnected bridge does

    def done(name):
        stack = hearth.stack(name)
        return stack if not stack["stack_status"].endswith("IN_PROGRESS") else None

    assert wait_for(lambda: done("hook"), 30, 0.1, "stack hook to settle")["stack_status"] == "CREATE_COMPLETE"
    waits = wait_for(lambda: done("waits"), 30, 0.1, "stack waits to settle")
    assert waits["stack_status"] == "CREATE_FAILED" and "cancelled" in waits["stack_status_reason"]
