"""SoftwareDeployment on real stacks (deployed servers, SQLite and PostgreSQL): every lifecycle
action, every signal transport, attributes; deployments are completed the way an agent does,
through the guest signal API and the entry's deploy_signal_id."""

from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import select, text

from engine.errors import Unauthorized
from engine.guest import credentials
from engine.guest.service import GuestAuth
from engine.store.models import Credential, Deployment
from tests.support import create, settle, wait_for
from tests.unit.engine.agentless import entries, entry_for, resource, signal, status, values


def deployment_count(service):
    with service.runtime.store.session() as session:
        return session.query(Deployment).count()


def template(actions="[CREATE, UPDATE]", transport="CFN_SIGNAL", config_name="config"):
    return f"""heat_template_version: 2018-08-31
resources:
  {config_name}:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      config: "#!/bin/sh\\necho $deploy_action\\n"
      outputs: [{{name: shade}}]
  server: {{type: OS::Heat::DeployedServer}}
  deploy:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {{get_resource: {config_name}}}
      server: {{get_resource: server}}
      actions: {actions}
      signal_transport: {transport}
outputs:
  shade: {{value: {{get_attr: [deploy, shade]}}}}
  stdout: {{value: {{get_attr: [deploy, deploy_stdout]}}}}
  typo: {{value: {{get_attr: [deploy, shady]}}}}
"""


def test_delete_listed_runs_the_config_as_delete_and_waits_before_removing(service):
    stack_id = create(service, "cleanup", template("[CREATE, DELETE]"))
    created = entry_for(service, stack_id, "CREATE")
    signal(service, created, {"shade": "teal", "deploy_stdout": "CREATE\n"})
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    service.stacks.delete_stack("admin", stack_id)
    deleting = entry_for(service, stack_id, "DELETE")
    assert deleting["id"] != created["id"]  # a new derived config: the agent runs it
    assert [values(e)["deploy_action"] for e in entries(service, stack_id)] == ["DELETE"]
    assert status(service, stack_id) == "DELETE_IN_PROGRESS"
    assert resource(service, stack_id, "deploy")["resource_status"] == "DELETE_IN_PROGRESS"
    assert deployment_count(service) == 1
    with pytest.raises(Exception, match="no deployment run"):  # the CREATE run's URL died
        signal(service, created, {})  # with its derived config
    signal(service, deleting, {"deploy_status_code": 0})
    assert settle(service, stack_id)["stack_status"] == "DELETE_COMPLETE"
    assert deployment_count(service) == 0


def test_a_failed_delete_run_fails_the_delete_and_keeps_the_deployment(service):
    stack_id = create(service, "stubborn", template("[CREATE, DELETE]"))
    signal(service, entry_for(service, stack_id, "CREATE"), {})
    settle(service, stack_id)
    service.stacks.delete_stack("admin", stack_id)
    signal(service, entry_for(service, stack_id, "DELETE"), {"deploy_status_code": 4, "deploy_stderr": "busy"})
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "DELETE_FAILED"
    assert (
        "Deployment to server failed: deploy_status_code : Deployment exited with non-zero status code: 4"
        in stack["stack_status_reason"]
    )
    assert deployment_count(service) == 1


def test_actions_not_listed_complete_at_once_and_delete_alone_runs_only_on_delete(service):
    stack_id = create(service, "ondelete", template("[DELETE]"))
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    assert entries(service, stack_id) == [] and deployment_count(service) == 0
    service.stacks.delete_stack("admin", stack_id)
    deleting = entry_for(service, stack_id, "DELETE")
    assert status(service, stack_id) == "DELETE_IN_PROGRESS"
    signal(service, deleting, {})
    assert settle(service, stack_id)["stack_status"] == "DELETE_COMPLETE"
    assert deployment_count(service) == 0


def test_default_actions_delete_without_running_anything(service):
    stack_id = create(service, "plain", template())
    created = entry_for(service, stack_id, "CREATE")
    signal(service, created, {})
    settle(service, stack_id)
    service.stacks.delete_stack("admin", stack_id)
    assert settle(service, stack_id)["stack_status"] == "DELETE_COMPLETE"
    assert deployment_count(service) == 0


def test_no_signal_completes_once_pushed_and_its_delete_does_not_wait(service):
    stack_id = create(service, "silent", template("[CREATE, DELETE]", "NO_SIGNAL"))
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    entry = entries(service, stack_id)[0]
    assert "deploy_signal_id" not in values(entry) and values(entry)["deploy_signal_transport"] == "NO_SIGNAL"
    with service.runtime.store.session() as session:
        row = session.scalar(select(Deployment))
        assert (row.status, row.status_reason) == ("COMPLETE", "Not waiting for outputs signal")
    service.stacks.delete_stack("admin", stack_id)
    assert settle(service, stack_id)["stack_status"] == "DELETE_COMPLETE"
    assert deployment_count(service) == 0


# HEAT_SIGNAL and ZAQAR_SIGNAL have no signal URL, as in Heat: tests/e2e/test_guest_keystone.py
# and tests/e2e/test_zaqar_transport.py signal them.
@pytest.mark.parametrize("transport,verb", [("CFN_SIGNAL", "POST"), ("TEMP_URL_SIGNAL", "PUT")])
def test_every_transport_signals_through_its_hearth_url(service, transport, verb):
    stack_id = create(service, "t-" + transport.lower().replace("_", "-"), template(transport=transport))
    entry = entry_for(service, stack_id, "CREATE")
    inputs = values(entry)
    assert inputs["deploy_signal_transport"] == transport and inputs["deploy_signal_verb"] == verb
    url = urlparse(inputs["deploy_signal_id"])
    assert f"{url.scheme}://{url.netloc}" == service.runtime.public_url
    assert url.path == f"/guest/v1/deployments/{entry['id']}/signal"
    query = parse_qs(url.query)
    now = service.runtime.now()
    # signed for its own verb (the route takes either, as the Swift temp URL takes PUT)
    credentials.verify_presigned(
        service.runtime.keyring, (verb,), url.path, query["expires"][0], query["signature"][0], now
    )
    signal(service, entry, {"shade": transport, "deploy_stdout": "ok"})
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    assert service.stacks.show_output("admin", stack_id, "shade")["output_value"] == transport


@pytest.mark.parametrize("transport", ["HEAT_SIGNAL", "ZAQAR_SIGNAL"])
def test_credential_transports_hand_out_a_deployment_credential_revoked_with_it(service, transport):
    stack_id = create(service, "creds", template("[CREATE, DELETE]", transport=transport))
    entry = entry_for(service, stack_id, "CREATE")
    inputs = values(entry)
    # The entry is pushed by the handler before its outcome (with the id) is stored.
    deployment_id = wait_for(
        lambda: resource(service, stack_id, "deploy")["physical_resource_id"],
        30,
        message="the deployment's physical id",
    )
    with service.runtime.store.session() as session:
        credential_id = session.scalar(
            select(Credential.id).where(Credential.kind == "deployment", Credential.subject_id == deployment_id)
        )
    # Hearth's guest Keystone; the user is the credential; no signal URL (Heat gives none).
    assert inputs["deploy_auth_url"] == service.runtime.public_url + "/identity/v3"
    assert inputs["deploy_user_id"] == credential_id
    assert "deploy_signal_id" not in inputs
    assert inputs["deploy_username"] == f"creds-deploy-{deployment_id[:12]}"
    assert inputs["deploy_project_id"] == "admin"
    queue = f"creds-deploy-{deployment_id.replace('-', '')[:12]}"  # transports/zaqar.queue_name
    assert inputs.get("deploy_queue_id") == (queue if transport == "ZAQAR_SIGNAL" else None)
    with service.runtime.store.session() as session:
        principal = credentials.authenticate(session, inputs["deploy_password"], service.runtime.now())
        assert (principal.kind, principal.subject_id) == ("deployment", deployment_id)

    def send(entry):  # no URL: the deployment's password is a bearer on the guest route
        service.guest.signal_deployment(GuestAuth(bearer=inputs["deploy_password"]), entry["id"], {})

    send(entry)
    settle(service, stack_id)
    service.stacks.delete_stack("admin", stack_id)
    deleting = values(entry_for(service, stack_id, "DELETE"))
    assert deleting["deploy_password"] == inputs["deploy_password"]  # one principal per deployment
    send(entry_for(service, stack_id, "DELETE"))
    assert settle(service, stack_id)["stack_status"] == "DELETE_COMPLETE"
    with service.runtime.store.session() as session, pytest.raises(Unauthorized):
        credentials.authenticate(session, inputs["deploy_password"], service.runtime.now())


def test_secrets_stay_out_of_events_resources_and_logs(service, caplog):
    caplog.set_level(logging.DEBUG)
    stack_id = create(service, "secretive", template("[CREATE, DELETE]", transport="ZAQAR_SIGNAL"))
    entry = entry_for(service, stack_id, "CREATE")
    inputs = values(entry)
    secrets = [inputs["deploy_password"]]
    auth = GuestAuth(bearer=inputs["deploy_password"])  # ZAQAR_SIGNAL has no URL; its user signals
    failing = {"deploy_status_code": 1, "deploy_stderr": "no"}  # a failure path too
    service.guest.signal_deployment(auth, entry["id"], failing)
    assert settle(service, stack_id)["stack_status"] == "CREATE_FAILED"
    service.stacks.delete_stack("admin", stack_id)
    service.guest.signal_deployment(auth, entry_for(service, stack_id, "DELETE")["id"], {})
    assert settle(service, stack_id)["stack_status"] == "DELETE_COMPLETE"
    with service.runtime.store.engine.connect() as connection:
        dump = "".join(
            str(row)
            for table in ("events", "resources", "stacks", "credentials")
            for row in connection.execute(text(f"SELECT * FROM {table}"))
        )
    assert "deploy" in dump and "hgd_" not in dump
    assert not [s for s in secrets if s in dump]
    assert not [s for s in secrets if s in caplog.text]
    events = service.resources.list_events("admin", stack_id)
    assert not [s for s in secrets if any(s in str(e) for e in events)]


def test_attributes_are_declared_outputs_null_until_signalled_and_typos_are_errors(service):
    stack_id = create(service, "attrs", template())
    entry = entry_for(service, stack_id, "CREATE")
    assert service.stacks.show_output("admin", stack_id, "shade")["output_value"] is None
    # The entry reaches the server's metadata in the same moment as the resource learns its
    # config's outputs, not necessarily before: wait for the latter, which names the typo.
    typo = wait_for(
        lambda: (shown := service.stacks.show_output("admin", stack_id, "typo")).get("output_error") and shown,
        message="the deployment's declared outputs",
    )
    assert typo["output_value"] is None and "no attribute 'shady'" in typo["output_error"]
    signal(service, entry, {"shade": "navy", "deploy_stdout": "out", "deploy_status_code": 0, "junk": 1})
    settle(service, stack_id)
    assert service.stacks.show_output("admin", stack_id, "shade")["output_value"] == "navy"
    assert service.stacks.show_output("admin", stack_id, "stdout")["output_value"] == "out"
    # Resource show answers the deployment as the software_deployments API does (Heat's `show`
    # attribute, recorded from Heat 27.0.1), the signalled outputs among its output_values.
    shown = service.resources.show_resource("admin", stack_id, "deploy")["attributes"]
    assert shown["status"] == "COMPLETE"
    assert {k: shown["output_values"].get(k) for k in ("shade", "deploy_stdout", "deploy_status_code")} == {
        "shade": "navy",
        "deploy_stdout": "out",
        "deploy_status_code": 0,
    }


def test_delete_during_the_wait_abandons_it_and_revokes_the_credential(service):
    stack_id = create(service, "abandoned", template(transport="HEAT_SIGNAL"))
    password = values(entry_for(service, stack_id, "CREATE"))["deploy_password"]
    service.stacks.delete_stack("admin", stack_id)
    assert settle(service, stack_id)["stack_status"] == "DELETE_COMPLETE"
    assert deployment_count(service) == 0
    with service.runtime.store.session() as session:
        rows = list(session.scalars(select(Credential).where(Credential.kind == "deployment")))
        assert len(rows) == 1 and rows[0].revoked_at is not None
        with pytest.raises(Unauthorized):
            credentials.authenticate(session, password, service.runtime.now())


def test_a_deployment_password_signals_its_own_deployment_and_no_other(service):
    from engine.errors import Forbidden

    first = create(service, "pw1", template(transport="HEAT_SIGNAL"))
    second = create(service, "pw2", template(transport="HEAT_SIGNAL"))
    mine, theirs = entry_for(service, first, "CREATE"), entry_for(service, second, "CREATE")
    password = values(mine)["deploy_password"]
    with pytest.raises(Forbidden):
        service.guest.signal_deployment(GuestAuth(bearer=password), theirs["id"], {})
    service.guest.signal_deployment(GuestAuth(bearer=password), mine["id"], {"shade": "bearer"})
    assert settle(service, first)["stack_status"] == "CREATE_COMPLETE"
    assert status(service, second) == "CREATE_IN_PROGRESS"
