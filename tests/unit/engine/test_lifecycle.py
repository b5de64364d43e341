"""Stack lifecycle through engine.service on real stores (SQLite file and PostgreSQL), no agents."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import text

from engine import software_formats
from engine.config import Config
from engine.errors import Conflict, Forbidden, NotFound, TemplateError
from engine.guest import traces
from engine.guest.service import GuestAuth
from engine.service import build_service
from tests.support import create, settle, wait_for


def events(service, stack_id):
    return [(e["resource_name"], e["resource_status"]) for e in service.resources.list_events("admin", stack_id)]


CHAIN = """heat_template_version: 2018-08-31
parameters:
  word: {type: string, default: hi}
resources:
  first: {type: OS::Heat::Value, properties: {value: {get_param: word}}}
  second:
    type: OS::Heat::Value
    properties: {value: {str_replace: {template: "$w and more", params: {$w: {get_attr: [first, value]}}}}}
  third: {type: OS::Heat::Value, properties: {value: {list_join: ["-", [{get_attr: [second, value]}, x]]}}}
  side: {type: OS::Heat::None}
outputs:
  result: {value: {get_attr: [third, value]}}
"""


def test_chain_runs_in_dependency_order_and_deletes_in_reverse(service):
    stack_id = create(service, "chain", CHAIN, parameters={"word": "hello"})
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    assert service.stacks.show_output("admin", stack_id, "result")["output_value"] == "hello and more-x"
    log = events(service, stack_id)
    assert log[0] == ("chain", "CREATE_IN_PROGRESS") and log[-1] == ("chain", "CREATE_COMPLETE")
    assert log.index(("first", "CREATE_COMPLETE")) < log.index(("second", "CREATE_IN_PROGRESS"))
    assert log.index(("second", "CREATE_COMPLETE")) < log.index(("third", "CREATE_IN_PROGRESS"))
    service.stacks.delete_stack("admin", stack_id)
    assert settle(service, stack_id)["stack_status"] == "DELETE_COMPLETE"
    log = events(service, stack_id)
    assert log.index(("third", "DELETE_COMPLETE")) < log.index(("second", "DELETE_IN_PROGRESS"))
    assert log.index(("second", "DELETE_COMPLETE")) < log.index(("first", "DELETE_IN_PROGRESS"))
    with pytest.raises(NotFound):
        service.stacks.find_stack("admin", "chain")
    assert service.stacks.find_stack("admin", stack_id).id == stack_id  # deleted stacks stay visible by id


def test_duplicate_name_and_bad_parameters_are_refused(service):
    create(service, "dup", CHAIN)
    with pytest.raises(Conflict):
        create(service, "dup", CHAIN)
    with pytest.raises(TemplateError) as error:
        create(service, "other", CHAIN, parameters={"nope": "x"})
    assert "nope" in str(error.value)


HIDDEN = """heat_template_version: 2018-08-31
parameters:
  db_password: {type: string, hidden: true}
resources:
  secret: {type: OS::Heat::RandomString, properties: {length: 24}}
  holder: {type: OS::Heat::Value, properties: {value: {get_resource: secret}}}
outputs:
  random: {value: {get_attr: [secret, value]}}
"""


def test_hidden_parameters_and_random_strings_are_encrypted_at_rest(service):
    password = "s3cret-Pa55word-do-not-store"
    stack_id = create(service, "hidden", HIDDEN, parameters={"db_password": password})
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    shown = service.stacks.show_stack("admin", stack_id)
    assert shown["parameters"]["db_password"] == "******"
    random_value = shown["outputs"][0]["output_value"]
    assert isinstance(random_value, str) and len(random_value) == 24
    with service.runtime.store.engine.connect() as connection:
        dump = "".join(
            str(row)
            for table in ("stacks", "resources", "events")
            for row in connection.execute(text(f"SELECT * FROM {table}"))
        )
    assert password not in dump
    assert "Value" in dump  # the dump really has content


DEPLOY = """heat_template_version: 2018-08-31
resources:
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      config: "#!/bin/sh\\n"
      inputs: [{name: colour}]
      outputs: [{name: shade}, {name: broken, error_output: true}]
  server: {type: OS::Heat::DeployedServer}
  deploy:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {get_resource: config}
      server: {get_resource: server}
      input_values: {colour: blue, extra: 7}
outputs:
  shade: {value: {get_attr: [deploy, shade]}}
  code: {value: {get_attr: [deploy, deploy_status_code]}}
"""


def _entry(service, stack_id):
    from engine.store.models import Server

    def server_id():
        return {r["resource_name"]: r for r in service.resources.list_resources("admin", stack_id)}["server"][
            "physical_resource_id"
        ]

    def entry():
        with service.runtime.store.session() as session:
            row = session.get(Server, server_id())
            doc = software_formats.open_document(service.runtime.keyring, row.metadata_doc) if row else {}
        return doc["deployments"][0] if doc.get("deployments") else None

    return wait_for(entry, 30, message="the deployment to reach the server metadata")


def _signal_auth(entry) -> GuestAuth:
    url = next(i["value"] for i in entry["inputs"] if i["name"] == "deploy_signal_id")
    query = parse_qs(urlparse(url).query)
    return GuestAuth(expires=query["expires"][0], signature=query["signature"][0])


def test_deployment_entry_has_heats_shape_and_signal_completes_it(service):
    stack_id = create(service, "deploy", DEPLOY)
    entry = _entry(service, stack_id)
    # Hearth's own channel adds the operation's id (docs/convergence.md); Heat's channels and the
    # orchestration API give Heat's entry (tests/unit/engine/test_convergence_traces.py).
    heats = {"id", "name", "group", "creation_time", "config", "inputs", "outputs", "options"}
    assert set(entry) == heats | {traces.ENTRY_KEY}
    assert set(traces.heat_shaped({"deployments": [entry]})["deployments"][0]) == heats
    names = [i["name"] for i in entry["inputs"]]
    assert names[:2] == ["colour", "extra"]
    assert names[2:] == [
        "deploy_server_id",
        "deploy_action",
        "deploy_stack_id",
        "deploy_resource_name",
        "deploy_signal_transport",
        "deploy_signal_id",
        "deploy_signal_verb",
    ]
    values = {i["name"]: i["value"] for i in entry["inputs"]}
    assert values["deploy_stack_id"] == f"deploy/{stack_id}" and values["deploy_action"] == "CREATE"
    result = service.guest.signal_deployment(
        _signal_auth(entry), entry["id"], {"deploy_status_code": 0, "shade": "navy", "junk": 1}
    )
    assert result["status"] == "COMPLETE"
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "CREATE_COMPLETE"
    assert service.stacks.show_output("admin", stack_id, "shade")["output_value"] == "navy"
    # the same signal again is harmless; a different one is refused
    again = service.guest.signal_deployment(
        _signal_auth(entry), entry["id"], {"deploy_status_code": 0, "shade": "navy"}
    )
    assert again["status"] == "COMPLETE"
    with pytest.raises(Conflict):
        service.guest.signal_deployment(_signal_auth(entry), entry["id"], {"deploy_status_code": 1})


def test_error_output_fails_the_deployment(service):
    stack_id = create(service, "errout", DEPLOY)
    entry = _entry(service, stack_id)
    service.guest.signal_deployment(_signal_auth(entry), entry["id"], {"broken": "bad config"})
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "CREATE_FAILED"
    assert "broken : bad config" in stack["stack_status_reason"]


def test_engine_restart_resumes_a_waiting_stack(db_url, tmp_path):
    config = Config.from_env({}, db_url=db_url, data_dir=str(tmp_path / "data"), compute="deployed")
    first = build_service(config)
    first.start()
    stack_id = create(first, "resume", DEPLOY)
    entry = _entry(first, stack_id)
    first.stop()  # the engine goes away while the deployment waits
    first.runtime.store.dispose()
    second = build_service(config)
    second.start()
    try:
        second.guest.signal_deployment(_signal_auth(entry), entry["id"], {"shade": "red"})
        stack = settle(second, stack_id)
        assert stack["stack_status"] == "CREATE_COMPLETE"
        assert second.stacks.show_output("admin", stack_id, "shade")["output_value"] == "red"
    finally:
        second.stop()
        second.runtime.store.dispose()


@pytest.mark.parametrize("interrupted", ["server", "deploy"])
def test_a_create_cut_short_by_the_engines_death_keeps_what_it_made(db_url, tmp_path, interrupted):
    """An engine killed between a create's own unit of work (the server row and its agent, the
    deployment on the server) and the scheduler's record of its physical id: the engine that
    takes the operation over fails the resource with the id of what was made, and the delete
    removes it (before, it kept no id and the server or deployment was left behind)."""
    from engine.store.models import Deployment, Resource, Server

    config = Config.from_env({}, db_url=db_url, data_dir=str(tmp_path / "data"), compute="deployed")
    first = build_service(config)
    first.start()
    stack_id = create(first, "cut", DEPLOY)
    _entry(first, stack_id)  # the server and the deployment exist
    first.stop()
    first.runtime.store.dispose()
    with first.runtime.store.session() as session:
        row = session.query(Resource).filter_by(stack_id=stack_id, name=interrupted).one()
        made = row.physical_id
        # as stored when the engine died inside the create: in progress, no physical id yet
        row.action, row.status, row.physical_id, row.waiting, row.deadline = "CREATE", "IN_PROGRESS", None, False, None
    second = build_service(config)
    second.start()
    try:
        stack = settle(second, stack_id)
        assert stack["stack_status"] == "CREATE_FAILED"
        shown = {r["resource_name"]: r for r in second.resources.list_resources("admin", stack_id)}[interrupted]
        assert (shown["resource_status"], shown["physical_resource_id"]) == ("CREATE_FAILED", made)
        assert "the engine stopped while this resource was in CREATE" in shown["resource_status_reason"]
        second.stacks.delete_stack("admin", stack_id)
        assert settle(second, stack_id)["stack_status"] == "DELETE_COMPLETE"
        with second.runtime.store.session() as session:
            assert session.query(Deployment).count() == 0
            assert session.get(Server, _server_of(session, stack_id)).deleted_at is not None
    finally:
        second.stop()
        second.runtime.store.dispose()


def _server_of(session, stack_id):
    from engine.store.models import Server

    return session.query(Server.id).filter_by(stack_id=stack_id).scalar()


def test_stack_timeout_fails_waiting_resources(service):
    stack_id = create(service, "slow", DEPLOY, timeout_mins=0.02)
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "CREATE_FAILED"
    assert "timed out" in stack["stack_status_reason"]


def test_events_long_poll_returns_when_an_event_arrives(service):
    import threading

    stack_id = create(service, "poll", CHAIN)
    settle(service, stack_id)
    last = service.resources.list_events("admin", stack_id)[-1]["id"]
    threading.Timer(0.2, service.stacks.delete_stack, ("admin", stack_id)).start()
    later = service.resources.list_events("admin", stack_id, marker=last, wait=20)
    assert later and later[0]["resource_status"] == "DELETE_IN_PROGRESS"
    json.dumps(later)  # the answer is plain JSON


def test_delete_during_create_cancels_the_wait_and_deletes_everything(service):
    from engine.store.models import Deployment

    stack_id = create(service, "interrupted", DEPLOY)
    _entry(service, stack_id)  # the deployment is waiting for its signal
    service.stacks.delete_stack("admin", stack_id)
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "DELETE_COMPLETE", stack["stack_status_reason"]
    log = events(service, stack_id)
    assert ("interrupted", "CREATE_FAILED") in log  # the create is reported as cancelled
    assert ("deploy", "DELETE_COMPLETE") in log and ("server", "DELETE_COMPLETE") in log
    with service.runtime.store.session() as session:
        assert session.query(Deployment).count() == 0


def test_a_failed_resource_fails_the_stack_and_nothing_after_it_starts(service):
    template = """heat_template_version: 2018-08-31
resources:
  first: {type: OS::Heat::TestResource, properties: {fail: true}}
  second: {type: OS::Heat::Value, properties: {value: {get_attr: [first, output]}}}
"""
    stack_id = create(service, "failing", template)
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "CREATE_FAILED"
    # Heat's words (recorded from Heat 27.0.1).
    assert (
        stack["stack_status_reason"]
        == "Resource CREATE failed: ValueError: resources.first: Test Resource failed first"
    )
    resources = {r["resource_name"]: r["resource_status"] for r in service.resources.list_resources("admin", stack_id)}
    assert resources == {"first": "CREATE_FAILED", "second": "INIT_COMPLETE"}


def test_concurrent_signals_without_ids_are_all_kept(service):
    from concurrent.futures import ThreadPoolExecutor

    template = """heat_template_version: 2018-08-31
resources:
  handle: {type: OS::Heat::WaitConditionHandle}
  wait: {type: OS::Heat::WaitCondition, properties: {handle: {get_resource: handle}, count: 12, timeout: 60}}
outputs:
  token: {value: {get_attr: [handle, token]}}
  data: {value: {get_attr: [wait, data]}}
"""
    stack_id = create(service, "crowd", template)
    token = wait_for(lambda: service.stacks.show_output("admin", stack_id, "token")["output_value"], 10)
    handle_id = {r["resource_name"]: r for r in service.resources.list_resources("admin", stack_id)}["handle"][
        "physical_resource_id"
    ]
    with ThreadPoolExecutor(12) as pool:
        answers = list(
            pool.map(
                lambda n: service.guest.signal_handle(GuestAuth(bearer=token), handle_id, {"data": n}, ""), range(12)
            )
        )
    assert sorted(int(a["id"]) for a in answers) == list(range(1, 13))
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    data = json.loads(service.stacks.show_output("admin", stack_id, "data")["output_value"])
    assert sorted(data.values()) == list(range(12))


def test_presigned_handle_url_dies_with_its_stack(service):
    template = """heat_template_version: 2018-08-31
resources:
  handle: {type: OS::Heat::WaitConditionHandle, properties: {signal_transport: CFN_SIGNAL}}
outputs:
  url: {value: {get_attr: [handle, signal, alarm_url]}}
"""
    stack_id = create(service, "gone", template)
    settle(service, stack_id)
    url = service.stacks.show_output("admin", stack_id, "url")["output_value"]
    path = urlparse(url).path
    query = parse_qs(urlparse(url).query)
    auth = GuestAuth(method="PUT", expires=query["expires"][0], signature=query["signature"][0])
    handle_id = path.rsplit("/", 1)[1]
    assert service.guest.signal_handle(auth, handle_id, {}, path)["status"] == "SUCCESS"
    service.stacks.delete_stack("admin", stack_id)
    settle(service, stack_id)
    with pytest.raises(Forbidden):
        service.guest.signal_handle(auth, handle_id, {}, path)


def test_misspelt_attribute_is_a_template_error(service):
    template = """heat_template_version: 2018-08-31
resources:
  v: {type: OS::Heat::Value, properties: {value: 1}}
outputs:
  x:
    value: {get_attr: [v, valeu]}
"""
    with pytest.raises(TemplateError) as error:
        create(service, "typo", template)
    assert str(error.value) == (
        "typo.yaml:6: outputs.x.value.get_attr: The Referenced Attribute (v valeu) is incorrect."
    )
