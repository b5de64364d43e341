"""Secrets at rest: keys rotate (MultiFernet), hidden parameters and secret deployment inputs
are stored encrypted on real stores (SQLite and PostgreSQL), the agent's metadata carries them
in clear, and API answers, events and failure reasons never show them."""

from __future__ import annotations

import json
import os
import stat

import pytest
from cryptography.fernet import InvalidToken
from sqlalchemy import JSON, select

from engine import software_formats
from engine.errors import InvalidRequest, TemplateError
from engine.store import crypto
from engine.store.crypto import Keyring, is_encrypted, reencrypt_all
from engine.store.models import Base, Deployment, Server, SoftwareConfig, Stack
from tests.support import create, settle, wait_for
from tests.unit.engine.agentless import entry_for, resource, signal, values

PASSWORD = "hunter2-correct-horse"
HIDDEN_DEFAULT = "input-default-s3cret"

TEMPLATE = f"""heat_template_version: 2018-08-31
parameters:
  db_password:
    type: string
    hidden: true
    constraints: [{{allowed_pattern: "[a-z0-9-]+"}}]
resources:
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      config: "#!/bin/sh\\necho done\\n"
      inputs:
        - {{name: password}}
        - {{name: api_key, hidden: true, default: {HIDDEN_DEFAULT}}}
        - {{name: colour}}
        - {{name: notify}}
  handle:
    type: OS::Heat::WaitConditionHandle
  server: {{type: OS::Heat::DeployedServer}}
  deploy:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {{get_resource: config}}
      server: {{get_resource: server}}
      signal_transport: HEAT_SIGNAL
      input_values:
        password: {{get_param: db_password}}
        colour: blue
        notify: {{get_attr: [handle, curl_cli]}}
"""


def sealed_values(store):
    """Every sealed value in every JSON column of the store."""
    found = []

    def walk(node):
        if is_encrypted(node):
            found.append(node)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    with store.session() as session:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, JSON)]
            for column in columns:
                for value in session.execute(select(column)).scalars():
                    walk(value)
    return found


def stored_metadata(service, stack_id):
    """The server's metadata document as stored, once it lists a deployment."""
    server_id = resource(service, stack_id, "server")["physical_resource_id"]
    if not server_id:
        return None
    with service.runtime.store.session() as session:
        doc = session.get(Server, server_id).metadata_doc
    return doc if doc.get("deployments") else None


def installation_secret(service) -> str:
    return service.runtime.config.secret_key or crypto.load_or_create_key(service.runtime.config.resolved_data_dir)


# Keys ----------------------------------------------------------------------------------------
def test_a_new_key_encrypts_and_signs_while_old_keys_still_decrypt_and_verify():
    old = Keyring("old-key")
    token, signature = old.encrypt("s3cret"), old.sign("POST\n/x\n1")
    rotated = Keyring("new-key,old-key")
    assert rotated.decrypt(token) == "s3cret"
    assert rotated.verify("POST\n/x\n1", signature)
    fresh = rotated.encrypt("fresh")
    assert Keyring("new-key").decrypt(fresh) == "fresh"
    with pytest.raises(InvalidToken):
        old.decrypt(fresh)
    assert Keyring(["new-key"]).decrypt(rotated.rotate(token)) == "s3cret"
    assert not Keyring("new-key").verify("POST\n/x\n1", signature)


def test_key_file_takes_a_new_key_first_and_drops_old_ones_atomically(tmp_path):
    first = crypto.load_or_create_key(str(tmp_path))
    sealed = Keyring(first).encrypt("value")
    keys = crypto.add_key(str(tmp_path)).split(",")
    path = tmp_path / "secret.key"
    assert len(keys) == 2 and keys[1] == first
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert crypto.load_or_create_key(str(tmp_path)) == ",".join(keys)
    assert Keyring(crypto.load_or_create_key(str(tmp_path))).decrypt(sealed) == "value"
    assert crypto.drop_old_keys(str(tmp_path)) == keys[0]
    assert path.read_text().split() == [keys[0]]
    assert not list(tmp_path.glob("*.new"))


def test_an_empty_key_is_refused_with_where_to_set_one():
    with pytest.raises(ValueError, match="HEARTH_SECRET_KEY"):
        Keyring(" , ")


def test_reencrypt_all_moves_every_stored_secret_to_the_newest_key(service):
    stack_id = create(service, "rotating", TEMPLATE, parameters={"db_password": PASSWORD})
    # Counted once the create is over: while it runs, the engine may seal more (the deployment's
    # state after its entry is served), which a count taken mid-way would miss.
    signal(service, entry_for(service, stack_id, "CREATE"), {"deploy_status_code": 0})
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    store = service.runtime.store
    before = sealed_values(store)
    assert len(before) >= 6  # the parameter, the handle's token, the principal, sealed inputs
    rotated = Keyring(["brand-new-key", installation_secret(service)])
    assert reencrypt_all(store, rotated) == len(before)
    only_new = Keyring("brand-new-key")
    for value in sealed_values(store):
        only_new.decrypt(value)  # raises InvalidToken if any value was left under the old key
    with store.session() as session:
        stack_params = session.get(Stack, stack_id).parameters
    assert json.loads(only_new.decrypt(stack_params["db_password"])) == PASSWORD


# Storage -------------------------------------------------------------------------------------
def test_secret_inputs_are_stored_sealed_and_reach_the_agent_in_clear(service):
    stack_id = create(service, "sealed", TEMPLATE, parameters={"db_password": PASSWORD})
    stored = wait_for(lambda: stored_metadata(service, stack_id), 30, message="the deployment in the metadata")
    with service.runtime.store.session() as session:
        derived = session.scalars(select(SoftwareConfig).where(SoftwareConfig.deployment_id.is_not(None))).one()
        deployment = session.scalars(select(Deployment)).one()
        stored_inputs = {i["name"]: i["value"] for i in derived.body["inputs"]}
        input_values = dict(deployment.input_values)
    secret = ("password", "api_key", "notify", "deploy_password")  # HEAT_SIGNAL: no signal URL
    assert all(is_encrypted(stored_inputs[name]) for name in secret), stored_inputs
    assert stored_inputs["colour"] == "blue" and stored_inputs["deploy_action"] == "CREATE"
    assert is_encrypted(input_values["password"]) and is_encrypted(input_values["notify"])
    assert input_values["colour"] == "blue"
    stored_entry = stored["deployments"][0]
    assert all(is_encrypted(v["value"]) for v in stored_entry["inputs"] if v["name"] in secret)
    assert PASSWORD not in json.dumps(stored) and HIDDEN_DEFAULT not in json.dumps(stored)

    served = software_formats.open_document(service.runtime.keyring, stored)["deployments"][0]
    clear = values(served)
    assert clear["password"] == PASSWORD and clear["api_key"] == HIDDEN_DEFAULT
    assert "deploy_signal_id" not in clear and clear["deploy_password"].startswith("hgd_")
    assert "X-Auth-Token: hgh_" in clear["notify"]
    signal(service, served, {"deploy_status_code": 0})
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"


def test_a_structured_config_holding_a_secret_is_stored_sealed(service):
    template = """heat_template_version: 2018-08-31
parameters:
  token: {type: string, hidden: true}
resources:
  config:
    type: OS::Heat::StructuredConfig
    properties:
      group: apply-config
      config: {db: {password: {get_input: token}}}
  server: {type: OS::Heat::DeployedServer}
  deploy:
    type: OS::Heat::StructuredDeployment
    properties:
      config: {get_resource: config}
      server: {get_resource: server}
      input_values: {token: {get_param: token}}
"""
    stack_id = create(service, "structured", template, parameters={"token": PASSWORD})
    entry = entry_for(service, stack_id, "CREATE")
    with service.runtime.store.session() as session:
        derived = session.get(SoftwareConfig, entry["id"])
        body = derived.body
    assert is_encrypted(body["config"]) and PASSWORD not in json.dumps(body)
    assert software_formats.open_entry(service.runtime.keyring, body)["config"] == {"db": {"password": PASSWORD}}


# Never shown ---------------------------------------------------------------------------------
def test_api_answers_events_and_failure_reasons_mask_secret_values(service):
    stack_id = create(service, "masked", TEMPLATE, parameters={"db_password": PASSWORD})
    entry = software_formats.open_entry(service.runtime.keyring, entry_for(service, stack_id, "CREATE"))
    deploy_password = values(entry)["deploy_password"]
    # A hook that echoes its inputs into stderr: the failure reason must not carry them.
    signal(
        service,
        entry,
        {"deploy_status_code": 2, "deploy_stderr": f"login failed for {PASSWORD} using {deploy_password}"},
    )
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "CREATE_FAILED"
    shown = json.dumps(
        [
            service.stacks.show_stack("admin", stack_id, resolve_outputs=False),
            service.stacks.show_environment("admin", stack_id),
            service.resources.show_resource("admin", stack_id, "deploy"),
            service.resources.list_resources("admin", stack_id),
            service.resources.list_events("admin", stack_id),
        ]
    )
    assert "login failed for ******" in shown
    assert PASSWORD not in shown and deploy_password not in shown and HIDDEN_DEFAULT not in shown
    assert service.stacks.show_stack("admin", stack_id, resolve_outputs=False)["parameters"]["db_password"] == "******"


def test_a_hidden_parameter_that_breaks_its_constraint_is_not_quoted(service):
    with pytest.raises((InvalidRequest, TemplateError)) as error:
        create(service, "bad", TEMPLATE, parameters={"db_password": "NOT VALID!"})
    assert "db_password" in str(error.value) and "NOT VALID!" not in str(error.value)


def test_keys_commands_rotate_reencrypt_and_prune_the_installation(service):
    """The `hearth keys` commands, run through click against the service's own data dir and
    store (the service stays idle meanwhile, as the docs ask of a stopped server)."""
    from click.testing import CliRunner

    from engine.cli.keys import keys

    stack_id = create(service, "cli-rotating", TEMPLATE, parameters={"db_password": PASSWORD})
    entry_for(service, stack_id, "CREATE")
    config = service.runtime.config
    env = {
        "HEARTH_DATA_DIR": config.resolved_data_dir,
        "HEARTH_DB_URL": config.resolved_db_url,
        "HEARTH_SECRET_KEY": "",
    }
    runner = CliRunner()
    assert runner.invoke(keys, ["prune"], env=env).exit_code == 1  # needs --yes
    rotated = runner.invoke(keys, ["rotate"], env=env)
    assert rotated.exit_code == 0 and "(2 keys)" in rotated.output, rotated.output
    reencrypted = runner.invoke(keys, ["reencrypt"], env=env)
    assert reencrypted.exit_code == 0 and "re-encrypted" in reencrypted.output, reencrypted.output
    assert runner.invoke(keys, ["prune", "--yes"], env=env).exit_code == 0
    newest = Keyring(crypto.load_or_create_key(config.resolved_data_dir))
    assert "," not in crypto.load_or_create_key(config.resolved_data_dir)
    values_now = sealed_values(service.runtime.store)
    assert values_now and all(newest.decrypt(v) for v in values_now)
    refused = runner.invoke(keys, ["rotate"], env={**env, "HEARTH_SECRET_KEY": "a,b"})
    assert refused.exit_code == 1 and "HEARTH_SECRET_KEY" in refused.output
