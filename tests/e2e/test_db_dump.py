"""End to end: after a full stack (a real server on 127.0.0.1, a real agent process and the real
script hook; a hidden parameter flowing into a deployment input, a hidden input, a wait
condition handle signalled with its token, HEAT_SIGNAL and its deploy_password, the
POLL_SERVER_CFN secret key and the POLL_SERVER_HEAT password of two more servers), a dump of the
whole database (SQLite's iterdump; PostgreSQL's pg_dump) holds none of the secrets in clear."""
from __future__ import annotations

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
        out = subprocess.run(["pg_dump", "--data-only", "--no-owner", libpq], check=True,
                             capture_output=True, text=True, timeout=60).stdout
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
            return {name: "\n".join(r[0] for r in connection.exec_driver_sql(f'SELECT t::text FROM "{name}" t'))
                    for name in names}
    finally:
        engine_.dispose()


def guest_metadata(hearth, server_id: str) -> dict:
    """The metadata as the agent receives it (with the server's own bootstrap credential)."""
    path = Path(hearth.config.resolved_data_dir) / "servers" / server_id / "bootstrap.json"
    credential = json.loads(path.read_text())["credential"]
    response = requests.get(f"{hearth.url}/guest/v1/servers/{server_id}/metadata",
                            headers={"Authorization": f"Bearer {credential}"}, timeout=30)
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
    # get_attr gives the collect URL (above); resource show, open to readers, does not.
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

