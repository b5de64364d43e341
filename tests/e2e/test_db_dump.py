"""End to end: after a full stack (a real server on 127.0.0.1, a real agent process and the real
script hook; a hidden parameter flowing into a deployment input, a hidden input, a wait
condition handle signalled with its token, HEAT_SIGNAL and its deploy_password, the
POLL_SERVER_CFN secret key and the POLL_SERVER_HEAT password of two more servers), a dump of the
whole database (SQLite's iterdump; PostgreSQL's pg_dump) holds none of the secrets in clear.

And one hidden parameter reaching every place a value can rest (an OS::Heat::Value's attribute,
a TestResource's data, a nested stack's parameter and output, a deployment's input, output and
failure reason echoed by a real hook, events, a deleted stack's rows): neither the database
(on SQLite every byte of the file and its -wal too) nor any answer about stored state holds it,
in clear, JSON-escaped or base64; the outputs and the agent receive it, as docs/security.md says."""

from __future__ import annotations

import base64
import json
import re
import secrets
import shutil
import sqlite3
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import requests
import sqlalchemy

pytestmark = pytest.mark.e2e

TEMPLATE = """
heat_template_version: 2018-08-31
parameters:
  db_password: {type: string, hidden: true}
  api_secret: {type: string, hidden: true}
resources:
  handle: {type: OS::Heat::WaitConditionHandle}
  wait:
    type: OS::Heat::WaitCondition
    properties: {handle: {get_resource: handle}, timeout: 120}
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      inputs: [{name: password}, {name: notify}, {name: api_key, hidden: true}]
      outputs: [{name: result}]
      config: |
        #!/bin/sh
        set -e
        eval "$notify --data-binary '{\\"status\\": \\"SUCCESS\\", \\"reason\\": \\"configured\\"}'" > /dev/null
        printf 'password %s chars, key %s chars' "${#password}" "${#api_key}" > "$heat_outputs_path.result"
  server:
    type: OS::Nova::Server
    properties: {image: any, flavor: any, user_data_format: SOFTWARE_CONFIG,
                 software_config_transport: POLL_TEMP_URL}
  cfn_server:
    type: OS::Heat::DeployedServer
    properties: {software_config_transport: POLL_SERVER_CFN}
  heat_server:
    type: OS::Heat::DeployedServer
    properties: {software_config_transport: POLL_SERVER_HEAT}
  deploy:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {get_resource: config}
      server: {get_resource: server}
      signal_transport: HEAT_SIGNAL
      input_values:
        password: {get_param: db_password}
        api_key: {get_param: api_secret}
        notify: {get_attr: [handle, curl_cli]}
outputs:
  result: {value: {get_attr: [deploy, result]}}
  alarm: {value: {get_attr: [handle, signal]}}
  occ: {value: {get_attr: [server, os_collect_config]}}
  cfn_occ: {value: {get_attr: [cfn_server, os_collect_config]}}
  heat_occ: {value: {get_attr: [heat_server, os_collect_config]}}
"""


def dump_sqlite(url: str) -> dict[str, str]:
    """iterdump's statements, by table."""
    tables: dict[str, list[str]] = {}
    connection = sqlite3.connect(url.split("///", 1)[1])
    try:
        for statement in connection.iterdump():
            match = re.match(r'INSERT INTO "([^"]+)"', statement)
            tables.setdefault(match.group(1) if match else "(schema)", []).append(statement)
    finally:
        connection.close()
    return {name: "\n".join(lines) for name, lines in tables.items()}


def dump_postgres(url: str) -> dict[str, str]:
    """pg_dump's data, by table (every table SELECTed as text when pg_dump is not installed)."""
    libpq = url.replace("postgresql+psycopg://", "postgresql://", 1)
    if shutil.which("pg_dump"):
        out = subprocess.run(
            ["pg_dump", "--data-only", "--no-owner", libpq], check=True, capture_output=True, text=True, timeout=60
        ).stdout
        tables: dict[str, list[str]] = {}
        current = "(header)"
        for line in out.splitlines():
            match = re.match(r"COPY public\.(\w+)", line)
            if match:
                current = match.group(1)
            tables.setdefault(current, []).append(line)
        return {name: "\n".join(lines) for name, lines in tables.items()}
    engine_ = sqlalchemy.create_engine(url)
    try:
        with engine_.connect() as connection:
            names = sqlalchemy.inspect(connection).get_table_names()
            return {
                name: "\n".join(r[0] for r in connection.exec_driver_sql(f'SELECT t::text FROM "{name}" t'))
                for name in names
            }
    finally:
        engine_.dispose()


def guest_metadata(hearth, server_id: str) -> dict:
    """The metadata as the agent receives it (with the server's own bootstrap credential)."""
    path = Path(hearth.config.resolved_data_dir) / "servers" / server_id / "bootstrap.json"
    credential = json.loads(path.read_text())["credential"]
    response = requests.get(
        f"{hearth.url}/guest/v1/servers/{server_id}/metadata",
        headers={"Authorization": f"Bearer {credential}"},
        timeout=30,
    )
    response.raise_for_status()
    return response.json()["metadata"], credential


def test_a_database_dump_after_a_full_stack_holds_no_secret_in_clear(hearth_on):
    hearth = hearth_on
    db_password, api_secret = "pw-" + secrets.token_hex(12), "key-" + secrets.token_hex(12)
    hearth.create_stack("vault", TEMPLATE, parameters={"db_password": db_password, "api_secret": api_secret})
    stack = hearth.wait_stack("vault", ("CREATE_COMPLETE",), timeout=120)
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    outputs = hearth.outputs("vault")
    # The agent received the secrets in clear: the script saw both at their full length.
    assert outputs["result"] == f"password {len(db_password)} chars, key {len(api_secret)} chars"
    assert stack["parameters"]["db_password"] == "******"
    # get_attr gives the collect URL (above); the resource list with details, open to readers,
    # does not (resource show answers the server's `show` map, as Heat, which has no URL).
    listed = hearth.http.get(
        f"{hearth.api}/stacks/vault/{stack['id']}/resources", params={"with_detail": "true"}, timeout=30
    ).json()["resources"]
    server_view = next(r for r in listed if r["resource_name"] == "server")
    assert server_view["attributes"]["os_collect_config"]["request"]["metadata_url"] == "******"
    shown = hearth.http.get(f"{hearth.api}/stacks/vault/{stack['id']}/resources/server", timeout=30)
    # As Heat's, it answers the server's own representation (its `show`), which holds no collect
    # URL; a DeployedServer's lists its attributes, the URL masked.
    assert "metadata_url" not in json.dumps(shown.json()["resource"]["attributes"])
    deployed = hearth.http.get(f"{hearth.api}/stacks/vault/{stack['id']}/resources/heat_server", timeout=30)
    assert "******" in json.dumps(deployed.json()["resource"]["attributes"]["os_collect_config"])

    server_id = hearth.resources("vault")["server"]["physical_resource_id"]
    metadata, server_credential = guest_metadata(hearth, server_id)
    inputs = {i["name"]: i["value"] for i in metadata["deployments"][0]["inputs"]}
    assert inputs["password"] == db_password and inputs["api_key"] == api_secret
    handle_token = re.search(r"X-Auth-Token: (\S+?)'", inputs["notify"]).group(1)
    wanted = {
        "hidden parameter db_password": db_password,
        "hidden parameter api_secret": api_secret,
        "deploy_password": inputs["deploy_password"],
        "cfn secret access key": outputs["cfn_occ"]["cfn"]["secret_access_key"],
        "heat collector password": outputs["heat_occ"]["heat"]["password"],
        "handle token": handle_token,
        "handle alarm_url signature": parse_qs(urlparse(outputs["alarm"]["alarm_url"]).query)["signature"][0],
        "server credential": server_credential,
        "collect URL signature": parse_qs(urlparse(outputs["occ"]["request"]["metadata_url"]).query)["signature"][0],
    }
    assert all(len(value) >= 16 for value in wanted.values()), "a secret too short to search for"

    url = hearth.config.resolved_db_url
    tables = dump_sqlite(url) if url.startswith("sqlite") else dump_postgres(url)
    assert "software_deployments" in tables and "vault" in tables["stacks"]  # the dump has the data
    leaks = {(table, name) for table, text in tables.items() for name, value in wanted.items() if value in text}
    assert not leaks, f"secrets in clear in the database dump: {sorted(leaks)}"


# One hidden parameter reaching every place a value can rest --------------------------------
INNER = """
heat_template_version: 2018-08-31
parameters:
  p: {type: string}
resources:
  v:
    type: OS::Heat::Value
    properties: {value: {get_param: p}}
outputs:
  o: {value: {get_attr: [v, value]}}
"""

EVERYWHERE = """
heat_template_version: 2018-08-31
parameters:
  pw: {type: string, hidden: true}
  fail: {type: string, default: "no"}
resources:
  value:
    type: OS::Heat::Value
    properties: {value: {str_replace: {template: "db:$P", params: {$P: {get_param: pw}}}}}
  kept:
    type: OS::Heat::TestResource
    properties: {value: {get_param: pw}}
  nested:
    type: inner.yaml
    properties: {p: {get_param: pw}}
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      inputs: [{name: secret_input}, {name: should_fail}]
      outputs: [{name: echo}]
      config: |
        #!/bin/sh
        echo "stdout $secret_input"
        echo "stderr $secret_input" >&2
        printf '%s' "$secret_input" > "$heat_outputs_path.echo"
        if [ "$should_fail" = yes ]; then exit 3; fi
  server:
    type: OS::Nova::Server
    properties: {image: any, flavor: any, user_data_format: SOFTWARE_CONFIG}
  deploy:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {get_resource: config}
      server: {get_resource: server}
      signal_transport: HEAT_SIGNAL
      input_values: {secret_input: {get_param: pw}, should_fail: {get_param: fail}}
outputs:
  value: {value: {get_attr: [value, value]}}
  kept: {value: {get_attr: [kept, output]}}
  nested: {value: {get_attr: [nested, o]}}
  echo: {value: {get_attr: [deploy, echo]}}
"""


def forms(secret: str) -> dict[str, str]:
    """The secret's text as a dump may hold it: as is, JSON-escaped (and that escaped again by
    PostgreSQL's COPY), and base64."""
    escaped = json.dumps(secret)[1:-1]
    return {
        "text": secret,
        "json": escaped,
        "copy": escaped.replace("\\", "\\\\"),
        "base64": base64.b64encode(secret.encode()).decode().rstrip("="),
    }


def sqlite_bytes(url: str) -> dict[str, bytes]:
    """The SQLite file and its -wal (and -journal), byte by byte: old page images included."""
    path = Path(url.split("///", 1)[1])
    return {
        p.name: p.read_bytes()
        for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-journal"))
        if p.exists()
    }


def get(hearth, path: str, **params) -> dict:
    response = hearth.http.get(f"{hearth.api}/{path}", params=params, timeout=30)
    assert response.status_code == 200, (path, response.text)
    return response.json()


def test_one_hidden_parameter_reaching_every_place_rests_nowhere_in_clear(hearth_on):
    hearth = hearth_on
    secret = 'pw"' + secrets.token_hex(12)
    files = {"inner.yaml": INNER}
    hearth.create_stack("everywhere", EVERYWHERE, parameters={"pw": secret}, files=files)
    hearth.create_stack("doomed", EVERYWHERE, parameters={"pw": secret, "fail": "yes"}, files=files)
    stack = hearth.wait_stack("everywhere", ("CREATE_COMPLETE",), timeout=180)
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    doomed = hearth.wait_stack("doomed", ("CREATE_FAILED",), timeout=180)
    assert doomed["stack_status"] == "CREATE_FAILED"
    # The hook's echo reached the failure reason, redacted.
    assert "stderr ******" in doomed["stack_status_reason"] and secret not in doomed["stack_status_reason"]
    doomed_id = doomed["id"]
    assert hearth.delete("doomed", timeout=120)["stack_status"] == "DELETE_COMPLETE"

    # What the answers show (docs/security.md, "Which answer shows what").
    base = f"stacks/everywhere/{stack['id']}"
    assert hearth.outputs("everywhere") == {
        "value": "db:" + secret,
        "kept": secret,
        "nested": secret,
        "echo": secret,
    }  # outputs: in clear, as Heat
    assert get(hearth, f"{base}/outputs/nested")["output"]["output_value"] == secret
    assert stack["parameters"]["pw"] == "******"
    assert get(hearth, f"{base}/environment")["parameters"]["pw"] == "******"
    assert get(hearth, f"{base}/resources/value")["resource"]["attributes"] == {"value": "******"}
    assert get(hearth, f"{base}/resources/kept")["resource"]["attributes"] == {"output": "******"}
    nested_id = hearth.resources("everywhere")["nested"]["physical_resource_id"]
    nested = get(hearth, f"stacks/{nested_id}")["stack"]
    assert nested["parameters"]["p"] == "******"
    assert [o["output_value"] for o in nested["outputs"]] == [secret]
    server_id = hearth.resources("everywhere")["server"]["physical_resource_id"]
    deployments = get(hearth, "software_deployments", server_id=server_id)["software_deployments"]
    assert deployments[0]["input_values"] == {"secret_input": "******", "should_fail": "no"}
    assert deployments[0]["output_values"]["echo"] == "******"
    stored_state = [
        get(hearth, f"{base}/resources", with_detail="true", nested_depth=2),
        get(hearth, f"{base}/events", nested_depth=2),
        get(hearth, f"{base}/resources/deploy"),
        get(hearth, f"{base}/resources/server/metadata"),
        get(hearth, f"{base}/resources/nested"),
        get(hearth, f"{base}/environment"),
        get(hearth, f"stacks/{nested_id}/resources/v"),
        get(hearth, f"stacks/{nested_id}/environment"),
        get(hearth, f"stacks/{nested_id}/events"),
        get(hearth, f"software_deployments/metadata/{server_id}"),
        get(hearth, "software_deployments"),
        get(hearth, f"stacks/{doomed_id}"),
        get(hearth, f"stacks/doomed/{doomed_id}/events"),
        get(hearth, "stacks", show_nested="true", show_deleted="true"),
    ]
    shown = json.dumps(stored_state)
    assert not [name for name, text in forms(secret).items() if text in shown], "a secret in a stored-state answer"
    # The agent alone receives it, on the guest API with its own credential.
    metadata, _ = guest_metadata(hearth, server_id)
    assert {i["name"]: i["value"] for i in metadata["deployments"][0]["inputs"]}["secret_input"] == secret

    # Nothing rests in clear: every table, and on SQLite every byte of the file and its WAL.
    url = hearth.config.resolved_db_url
    wanted = forms(secret)
    if url.startswith("sqlite"):
        raw = sqlite_bytes(url)
        assert any(name.endswith("-wal") for name in raw), "the WAL file is part of the proof"
        leaks = {(name, form) for name, data in raw.items() for form, text in wanted.items() if text.encode() in data}
        assert not leaks, f"the secret in clear in the database files: {sorted(leaks)}"
    tables = dump_sqlite(url) if url.startswith("sqlite") else dump_postgres(url)
    for table in ("stacks", "resources", "events", "software_deployments", "software_configs", "servers"):
        assert table in tables, f"the dump has no {table}"
    leaks = {(table, form) for table, text in tables.items() for form, value in wanted.items() if value in text}
    assert not leaks, f"the secret in clear in the database dump: {sorted(leaks)}"
