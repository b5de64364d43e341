"""No 5xx for any input: hypothesis sends every route family of a real server on 127.0.0.1
requests that a valid one has been spoiled in one place (tests/fuzz/hostile.py): a query
number such as inf, nan, 1e400, -1 or 5,000 digits; a body nested 5,000 levels deep, with
wrong JSON types, NaN or huge numbers, or no JSON at all; a 5,000-digit If-None-Match, a
70 KB header or 120 headers; a path segment of 5,000 digits. Each answer must be below 500
and each error the JSON envelope with a message. The requests carry real credentials (the
admin token, a person's token, a server's credential, pre-signed URLs, a guest Keystone token,
a Swift temp URL), so they get past authentication to the parsing behind it.

The HTTP layer's own refusals (a request line or headers too large, a malformed request line)
are sent over a raw socket, since no HTTP client sends them. A last test checks that every
route the server registers is in one of the families."""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

import pytest
import requests
from hypothesis import given
from sqlalchemy import select

from engine import secrets
from engine.store.models import Server
from tests.fuzz.hostile import HOSTILE, Hostile, Route, _paths, _put, check, hostile, send
from tests.support import AUTH, start_server, stop_server, wait_for
from tests.unit.engine import agentless
from tests.unit.server.test_swift_temp_url import deployment_with_signal_url, temp_url

pytestmark = pytest.mark.fuzz

# Budgets off (fuzzing is not a flood), long-polls short (a generated `wait` that happens to be
# valid must not hold a case for a minute).
SETTINGS = {"guest_rate": 0, "api_rate": 0, "auth_failure_rate": 0, "longpoll_max_wait": 1, "compute": "deployed"}
CALM = """
heat_template_version: 2018-08-31
parameters:
  n: {type: number, default: 1}
resources:
  value: {type: OS::Heat::Value, properties: {value: {get_param: n}}}
  none: {type: OS::Heat::None}
outputs:
  v: {value: {get_attr: [value, value]}}
"""
GUESTS = """
heat_template_version: 2018-08-31
resources:
  config: {type: OS::Heat::SoftwareConfig, properties: {group: script, config: "#!/bin/sh\\necho hi\\n", outputs: [{name: result}]}}
  server: {type: OS::Nova::Server, properties: {image: any, flavor: any, user_data_format: SOFTWARE_CONFIG}}
  heat_server: {type: OS::Nova::Server, properties: {image: any, flavor: any, user_data_format: SOFTWARE_CONFIG, software_config_transport: POLL_SERVER_HEAT}}
  cfn: {type: OS::Heat::SoftwareDeployment, properties: {config: {get_resource: config}, server: {get_resource: server}, signal_transport: CFN_SIGNAL}}
  heat: {type: OS::Heat::SoftwareDeployment, properties: {config: {get_resource: config}, server: {get_resource: server}, signal_transport: HEAT_SIGNAL}}
  temp: {type: OS::Heat::SoftwareDeployment, properties: {config: {get_resource: config}, server: {get_resource: server}, signal_transport: TEMP_URL_SIGNAL}}
  handle: {type: OS::Heat::WaitConditionHandle}
  wait: {type: OS::Heat::WaitCondition, properties: {handle: {get_resource: handle}, count: 1000, timeout: 3600}}
  aws_handle: {type: AWS::CloudFormation::WaitConditionHandle}
outputs:
  token: {value: {get_attr: [handle, token]}}
  signal: {value: {get_attr: [handle, signal]}}
  aws_url: {value: {get_resource: aws_handle}}
"""
PASSWORD = "hostile-pass-1"
DEPLOYMENT_RESULT = {"deploy_stdout": "out", "deploy_stderr": "", "deploy_status_code": 0, "result": "r"}


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _sign_in(url: str, body: dict) -> str:
    answer = requests.post(f"{url}/identity/v3/auth/tokens", json=body, timeout=30)
    assert answer.status_code == 201, answer.text
    return answer.headers["X-Subject-Token"]


def _password_body(user: dict, password: str, project: dict) -> dict:
    return {
        "auth": {
            "identity": {"methods": ["password"], "password": {"user": {**user, "password": password}}},
            "scope": {"project": project},
        }
    }


class World:
    """The things the routes act on, made through the real API: a settled stack `calm`, a stack
    `guests` waiting for its deployments' signals and its wait condition, a software config and
    an API-made deployment, a person who signs in at /identity/v3, users and a project for the
    admin API to change, and every kind of guest credential."""

    def __init__(self, hearth):
        self.hearth, self.service = hearth, hearth.service
        http, api, url = hearth.http, hearth.api, hearth.url
        for name in ("calm", "doomed", "abandoned"):
            hearth.create_stack(name, CALM)
        self.calm = hearth.wait_stack("calm", ("CREATE_COMPLETE",))
        self.doomed = hearth.wait_stack("doomed", ("CREATE_COMPLETE",))
        self.abandoned = hearth.wait_stack("abandoned", ("CREATE_COMPLETE",))
        hearth.create_stack("guests", GUESTS)
        self.guests = wait_for(lambda: self._waiting("guests"), 30, 0.05, "the guests stack's deployments")
        self.event = http.get(f"{api}/stacks/calm/{self.calm['id']}/events", timeout=30).json()["events"][0]["id"]
        resources = hearth.resources("guests")
        self.server = resources["server"]["physical_resource_id"]
        self.heat_server = resources["heat_server"]["physical_resource_id"]
        self.handle = resources["handle"]["physical_resource_id"]
        self.entries = {
            agentless.values(e)["deploy_resource_name"]: e for e in agentless.entries(self.service, self.guests["id"])
        }
        self.credential = http.post(f"{api}/servers/{self.server}/bootstrap", json={}, timeout=30).json()["bootstrap"][
            "credential"
        ]
        outputs = {
            key: self.service.stacks.show_output("admin", self.guests["id"], key)["output_value"]
            for key in ("token", "signal", "aws_url")
        }
        self.handle_token, self.alarm_url, self.aws_url = (
            outputs["token"],
            outputs["signal"]["alarm_url"],
            outputs["aws_url"],
        )
        heat = agentless.values(self.entries["heat"])
        self.heat_signal_token = _sign_in(
            url,
            _password_body({"id": heat["deploy_user_id"]}, heat["deploy_password"], {"id": heat["deploy_project_id"]}),
        )
        section = self._heat_section()
        self.heat_metadata_token = _sign_in(
            url, _password_body({"id": section["user_id"]}, section["password"], {"id": section["project_id"]})
        )
        self.config = http.post(f"{api}/software_configs", json=self.config_body(), timeout=30).json()[
            "software_config"
        ]["id"]
        self.deployment = http.post(f"{api}/software_deployments", json=self.deployment_body(), timeout=30).json()[
            "software_deployment"
        ]["id"]
        key = http.head(f"{url}/v1/AUTH_admin", timeout=30).headers["X-Account-Meta-Temp-Url-Key"]
        self.object_path = "/v1/AUTH_admin/hostile/signal"
        self.temp_url = temp_url(url, key, self.object_path, expires=int(time.time()) + 24 * 3600)
        self.swift_deployment = deployment_with_signal_url(hearth, self.temp_url)
        for name in ("person", "victim"):
            assert (
                http.post(f"{url}/admin/v1/users", json={"name": name, "password": PASSWORD}, timeout=30).status_code
                == 201
            )
            assert http.put(f"{url}/admin/v1/projects/admin/users/{name}/roles/member", timeout=30).status_code == 204
        assert http.post(f"{url}/admin/v1/projects", json={"name": "victims"}, timeout=30).status_code == 201
        self.person_body = _password_body(
            {"name": "person", "domain": {"name": "Default"}},
            PASSWORD,
            {"name": "admin", "domain": {"name": "Default"}},
        )
        self.person_token = _sign_in(url, self.person_body)
        self.person_id = next(
            u["id"] for u in http.get(f"{url}/admin/v1/users", timeout=30).json()["users"] if u["name"] == "person"
        )
        made = requests.post(
            f"{url}/identity/v3/users/{self.person_id}/application_credentials",
            headers={"X-Auth-Token": self.person_token},
            timeout=30,
            json={"application_credential": {"name": "kept"}},
        ).json()
        self.app_credential = made["application_credential"]
        tokens = http.post(f"{url}/admin/v1/tokens", json={"user": "victim", "name": "t"}, timeout=30).json()
        self.victim_token_id = tokens["token"]["id"]
        delegations = http.get(f"{url}/admin/v1/delegations", timeout=30).json()["delegations"]
        self.delegation = delegations[0]["id"]

    def _waiting(self, name: str):
        resources = self.hearth.resources(name)
        ready = all(
            r["resource_status"] == "CREATE_COMPLETE" or r["resource_name"] in ("cfn", "heat", "temp", "wait")
            for r in resources.values()
        )
        return (
            self.hearth.stack(name)
            if ready and len(agentless.entries(self.service, self.hearth.stack(name)["id"])) == 3
            else None
        )

    def _heat_section(self) -> dict:
        with self.service.runtime.store.session() as session:
            doc = secrets.open_document(
                self.service.runtime.keyring,
                session.scalar(select(Server.metadata_doc).where(Server.id == self.heat_server)),
            )
        return doc["os-collect-config"]["heat"]

    def config_body(self) -> dict:
        return {
            "name": "c",
            "group": "script",
            "config": "#!/bin/sh\necho hi\n",
            "inputs": [{"name": "x", "type": "String", "default": "1"}],
            "outputs": [{"name": "y"}],
            "options": {},
        }

    def deployment_body(self) -> dict:
        return {
            "config_id": self.config,
            "server_id": "elsewhere",
            "action": "CREATE",
            "status": "IN_PROGRESS",
            "status_reason": "waiting",
            "input_values": {"x": "2"},
        }

    def signal_url(self, resource: str) -> str:
        return _path(agentless.values(self.entries[resource])["deploy_signal_id"])


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    hearth = start_server(tmp_path_factory.mktemp("hostile"), **SETTINGS)
    try:
        yield World(hearth)
    finally:
        stop_server(hearth)


def orchestration_routes(w: World) -> list[Route]:
    auth = dict(AUTH)
    calm = f"/v1/admin/stacks/calm/{w.calm['id']}"
    guests = f"/v1/admin/stacks/guests/{w.guests['id']}"
    # Besides Heat's keys, the ones a parent stack sends its nested stacks' requests, which a
    # user can send too (engine/orchestration/nested.py).
    inner = {"requested_timeout_mins": 10, "_hearth_secret_parameters": ["n"]}
    create = {
        "stack_name": "made",
        "template": CALM,
        "template_name": "calm.yaml",
        "parameters": {"n": "2"},
        "environment": {"parameters": {}},
        "environment_files": [],
        "files": {},
        "timeout_mins": 10,
        "disable_rollback": True,
        "tags": "a,b",
        **inner,
    }
    update = {
        "template": CALM,
        "template_name": "calm.yaml",
        "parameters": {"n": "3"},
        "environment": {},
        "environment_files": [],
        "files": {},
        "clear_parameters": [],
        "timeout_mins": 10,
        "disable_rollback": False,
        "tags": ["a"],
        "existing": True,
        **inner,
    }
    listing = ("limit", "marker", "sort_keys", "sort_dir", "show_deleted", "show_nested", "show_hidden", "tags")
    routes = [
        Route("GET", "/v1/admin/stacks", params=listing),
        Route("POST", "/v1/admin/stacks", create),
        Route("POST", "/v1/admin/stacks/preview", create),
        Route("GET", "/v1/admin/stacks/calm", params=("resolve_outputs",)),
        Route("GET", f"{calm}/resources/value/events", params=("limit", "marker", "wait")),
        Route("GET", calm, params=("resolve_outputs",)),
        Route("PUT", calm, update),
        Route("PATCH", calm, update),
        Route("PUT", f"{calm}/preview", update),
        Route("PATCH", f"{calm}/preview", update),
        Route("DELETE", f"/v1/admin/stacks/doomed/{w.doomed['id']}"),
        Route("DELETE", f"/v1/admin/stacks/abandoned/{w.abandoned['id']}/abandon"),
        Route("POST", f"{calm}/actions", {"check": None}),
        Route("GET", f"{calm}/template"),
        # A stack's ARN in the path, as heatclient sends it for a nested stack's owner.
        Route("GET", f"/v1/admin/stacks/arn:openstack:heat::admin:stacks/calm/{w.calm['id']}/resources"),
        Route("GET", f"{calm}/environment"),
        Route("GET", f"{calm}/files"),
        Route("GET", f"{calm}/resources", params=("nested_depth", "with_detail", "name", "type")),
        Route("GET", f"{calm}/resources/value"),
        Route("PATCH", f"{calm}/resources/value", {"mark_unhealthy": True, "resource_status_reason": "why"}),
        Route("GET", f"{calm}/resources/value/metadata"),
        Route("POST", f"{guests}/resources/cfn/signal", DEPLOYMENT_RESULT),
        Route(
            "GET",
            f"{calm}/events",
            params=(
                "limit",
                "marker",
                "wait",
                "nested_depth",
                "sort_dir",
                "sort_keys",
                "resource_status",
                "resource_action",
                "resource_name",
            ),
        ),
        Route("GET", f"{calm}/resources/value/events/{w.event}"),
        # The stack's facts (docs/facts.md): a blocking read is held for `wait` (capped).
        Route("GET", f"{calm}/facts", params=("prefix", "index", "wait")),
        Route("PUT", f"{calm}/facts/cluster/size", {"value": {"n": 3}}, params=("cas",)),
        Route("GET", f"{calm}/facts/cluster/size"),
        Route("DELETE", f"{calm}/facts/cluster/gone", params=("cas",)),
        Route("GET", f"{calm}/outputs"),
        Route("GET", f"{calm}/outputs/v"),
        Route("GET", f"{calm}/event_sinks"),
        Route("GET", "/v1/admin/events", params=("since", "limit", "wait")),  # the project's event stream
        Route("POST", f"{calm}/event_sinks/0/replay", {"sequences": [1]}),
        Route("GET", "/v1/admin/resource_types", params=("name", "version", "support_status", "with_description")),
        Route("GET", "/v1/admin/resource_types/OS::Heat::Value"),
        Route("GET", "/v1/admin/resource_types/OS::Heat::Value/template", params=("template_type",)),
        Route("GET", "/v1/admin/template_versions"),
        Route(
            "GET",
            "/v1/admin/template_versions/heat_template_version.2018-08-31/functions",
            params=("with_condition_func",),
        ),
        Route(
            "POST",
            "/v1/admin/validate",
            {"template": CALM, "environment": {}, "files": {}},
            params=("show_nested", "ignore_errors"),
        ),
        Route("GET", "/v1/admin/build_info"),
        Route("POST", "/v1/admin/software_configs", w.config_body()),
        Route("GET", "/v1/admin/software_configs", params=("limit", "marker")),
        Route("GET", f"/v1/admin/software_configs/{w.config}"),
        Route("DELETE", "/v1/admin/software_configs/no-such-config"),
        Route("POST", "/v1/admin/software_deployments", w.deployment_body()),
        Route("GET", "/v1/admin/software_deployments", params=("server_id",)),
        Route("GET", f"/v1/admin/software_deployments/{w.deployment}"),
        Route(
            "PUT",
            f"/v1/admin/software_deployments/{w.deployment}",
            {"status": "COMPLETE", "status_reason": "done", "output_values": {"y": "1"}},
        ),
        Route("DELETE", "/v1/admin/software_deployments/no-such-deployment"),
        Route("GET", "/v1/admin/software_deployments/metadata/elsewhere"),
        Route("POST", "/v1/admin/servers/fuzz-machine/bootstrap", {"new": True}),
        Route("HEAD", "/v1/AUTH_admin"),
        Route("POST", "/v1/AUTH_admin"),
        Route("PUT", "/v1/AUTH_admin/hostile"),
        Route("PUT", "/v1/AUTH_admin/hostile/unsigned", {}),
        Route("GET", "/"),
        Route("GET", "/openapi/orchestration.yaml"),
    ]
    # A project's own Zaqar queues (docs/zaqar.md, User queues): a person's token, Zaqar's headers.
    person = {**auth, "Client-ID": "5e8f3a0c9d2b4c1e8f7a6b5c4d3e2f11", "X-Project-Id": "admin"}
    queue = "/messaging/v2/queues/fuzzed"
    queues = [
        Route("PUT", queue, headers=person),
        Route("GET", queue, headers=person),
        Route("POST", f"{queue}/messages", {"messages": [{"body": {"n": 1}, "ttl": 60}]}, headers=person),
        Route("GET", f"{queue}/messages?echo=true&limit=2", params=("echo", "limit", "marker", "ids"), headers=person),
        Route("DELETE", f"{queue}/messages?pop=1", params=("pop", "ids"), headers=person),
        Route("GET", f"{queue}/messages/0123456789abcdef", headers=person),
        Route("DELETE", f"{queue}/messages/0123456789abcdef", headers=person),
    ]
    return [Route(r.method, r.path, r.body, r.params, auth) for r in routes] + queues


def guest_routes(w: World) -> list[Route]:
    bearer = {"Authorization": f"Bearer {w.credential}"}
    cfn_body = {"Status": "SUCCESS", "Reason": "ok", "UniqueId": "1", "Data": "d"}
    native = {"status": "SUCCESS", "reason": "ok", "data": "d", "id": "1"}
    guests = f"/v1/admin/stacks/guests/{w.guests['id']}"
    zaqar = {"X-Auth-Token": w.heat_signal_token, "Client-ID": "5e8f3a0c9d2b4c1e8f7a6b5c4d3e2f10"}
    return [
        # native: the server's credential
        Route("GET", f"/guest/v1/servers/{w.server}/metadata", params=("since", "wait"), headers=bearer),
        Route("POST", f"/guest/v1/deployments/{w.entries['cfn']['id']}/signal", DEPLOYMENT_RESULT, headers=bearer),
        Route("PUT", f"/guest/v1/deployments/{w.entries['temp']['id']}/signal", DEPLOYMENT_RESULT, headers=bearer),
        Route(
            "POST",
            f"/guest/v1/deployments/{w.entries['heat']['id']}/progress",
            {"message": "m", "percent": 50},
            headers=bearer,
        ),
        Route("POST", "/guest/v1/credentials/rotate", headers=bearer),
        Route("GET", f"/guest/v1/servers/{w.server}/facts", params=("prefix", "index", "wait"), headers=bearer),
        Route("PUT", f"/guest/v1/servers/{w.server}/facts/servers/x", {"value": 1, "bound": True}, ("cas",), bearer),
        Route("DELETE", f"/guest/v1/servers/{w.server}/facts/servers/x", params=("cas",), headers=bearer),
        Route(
            "POST",
            f"/guest/v1/servers/{w.server}/metrics",
            {"metrics": [{"name": "cpu_util", "value": 12.5, "unit": "%"}]},
            headers=bearer,
        ),
        # a scaling policy's alarm_url (a forged signature: refused whatever the body)
        Route(
            "POST",
            "/v1/signal/arn%3Aopenstack%3Aheat%3A%3Aadmin%3Astacks/s/x/resources/p?AWSAccessKeyId=forged&Signature=forged",
            {"current": "alarm", "previous": "ok", "reason": "r"},
        ),
        Route(
            "POST",
            f"/guest/v1/handles/{w.handle}/signal",
            native,
            headers={"Authorization": f"Bearer {w.handle_token}"},
        ),
        # pre-signed URLs: CFN_SIGNAL and TEMP_URL_SIGNAL entries, a handle's alarm URL, an AWS
        # handle that cfn-signal PUTs to with an empty Content-Type
        Route("POST", w.signal_url("cfn"), DEPLOYMENT_RESULT),
        Route("PUT", w.signal_url("temp"), DEPLOYMENT_RESULT),
        Route("POST", _path(w.alarm_url), native),
        Route("PUT", _path(w.aws_url), cfn_body, headers={"Content-Type": ""}),
        Route("GET", f"/guest/v1/servers/{w.server}/collect?expires=1&signature=forged", params=("expires",)),
        # Heat: a guest Keystone token (POLL_SERVER_HEAT metadata, HEAT_SIGNAL)
        Route("GET", f"{guests}/resources/heat_server/metadata", headers={"X-Auth-Token": w.heat_metadata_token}),
        Route(
            "POST", f"{guests}/resources/heat/signal", DEPLOYMENT_RESULT, headers={"X-Auth-Token": w.heat_signal_token}
        ),
        # Zaqar (ZAQAR_MESSAGE pop, ZAQAR_SIGNAL post) with a guest token whose queue this is not
        Route("PUT", "/messaging/v2/queues/q-1", headers=zaqar),
        Route("GET", "/messaging/v2/queues/q-1", headers=zaqar),
        Route("DELETE", "/messaging/v2/queues/q-1/messages?pop=1", params=("pop", "ids"), headers=zaqar),
        Route(
            "POST", "/messaging/v1.1/queues/q-1/messages", {"messages": [{"body": DEPLOYMENT_RESULT}]}, headers=zaqar
        ),
        # Swift temp URL (heatclient's TEMP_URL_SIGNAL)
        Route("PUT", _path(w.temp_url), DEPLOYMENT_RESULT),
        # CFN API (POLL_SERVER_CFN), its errors asked for as JSON
        Route(
            "GET",
            "/v1/?Action=DescribeStackResource&StackName=guests&LogicalResourceId=server"
            "&ContentType=JSON&AWSAccessKeyId=x&SignatureVersion=2&SignatureMethod=HmacSHA256"
            "&Timestamp=2026-01-01T00:00:00Z&Signature=forged",
            params=("Timestamp", "Expires"),
        ),
        Route(
            "GET",
            "/v1/?Action=DescribeStackResource&StackName=guests&LogicalResourceId=server&ContentType=JSON",
            headers={
                "X-Amz-Date": "20260101T000000Z",
                "Authorization": "AWS4-HMAC-SHA256 Credential=K/20260101/"
                "RegionOne/cloudformation/aws4_request, SignedHeaders=host;x-amz-date, Signature=forged",
            },
        ),
        Route("POST", "/v1/?ContentType=JSON", {"Action": "DescribeStackResource"}),
        Route("GET", "/openapi/guest.yaml"),
    ]


def identity_routes(w: World) -> list[Route]:
    person = {"X-Auth-Token": w.person_token}
    credentials = f"/identity/v3/users/{w.person_id}/application_credentials"
    app = w.app_credential
    return [
        Route("GET", "/identity"),
        Route("GET", "/identity/v3"),
        Route("POST", "/identity/v3/auth/tokens", w.person_body),
        Route(
            "POST",
            "/identity/v3/auth/tokens",
            {
                "auth": {
                    "identity": {
                        "methods": ["application_credential"],
                        "application_credential": {"id": app["id"], "secret": app["secret"]},
                    }
                }
            },
        ),
        Route("POST", "/identity/v3/auth/tokens", _password_body({"id": "a-guest"}, "secret", {"id": "admin"})),
        Route("GET", "/identity/v3/auth/tokens", headers={**person, "X-Subject-Token": w.person_token}),
        Route("DELETE", "/identity/v3/auth/tokens", headers={**person, "X-Subject-Token": "hat_not-a-token"}),
        Route(
            "POST",
            credentials,
            {
                "application_credential": {
                    "name": "made",
                    "description": "d",
                    "expires_at": "2099-01-01T00:00:00",
                    "roles": [{"name": "member"}],
                    "unrestricted": False,
                }
            },
            headers=person,
        ),
        Route("GET", credentials, params=("name",), headers=person),
        Route("GET", f"{credentials}/{app['id']}", headers=person),
        Route("DELETE", f"{credentials}/no-such-credential", headers=person),
    ]


def admin_routes(w: World) -> list[Route]:
    routes = [
        Route("GET", "/admin/v1/projects"),
        Route("POST", "/admin/v1/projects", {"name": "made"}),
        Route("DELETE", "/admin/v1/projects/victims"),
        Route("GET", "/admin/v1/users"),
        Route("POST", "/admin/v1/users", {"name": "made", "password": PASSWORD}),
        Route("PUT", "/admin/v1/users/victim/password", {"password": PASSWORD}),
        Route("DELETE", "/admin/v1/users/victim/password"),
        Route("DELETE", "/admin/v1/users/victim"),
        Route("PUT", "/admin/v1/projects/victims/users/victim/roles/member"),
        Route("DELETE", "/admin/v1/projects/victims/users/victim/roles/member"),
        Route("GET", "/admin/v1/tokens", params=("user",)),
        Route("POST", "/admin/v1/tokens", {"user": "victim", "name": "label", "expires_in": 3600}),
        Route("DELETE", f"/admin/v1/tokens/{w.victim_token_id}"),
        Route("GET", "/admin/v1/delegations", params=("stack_id",)),
        Route("DELETE", f"/admin/v1/delegations/{w.delegation}"),
        Route("GET", "/admin/v1/audit", params=("action", "since", "limit", "marker")),
    ]
    return [Route(r.method, r.path, r.body, r.params, dict(AUTH)) for r in routes]


def console_routes(w: World) -> list[Route]:
    """The web console's pages, signed in with the admin's session cookie (its errors are HTML
    pages: hostile.check accepts those under /console/)."""
    stack = f"/console/stacks/{w.guests['id']}"
    session = {"Cookie": f"hearth_console=admin:{AUTH['X-Auth-Token']}"}
    routes = [
        Route("GET", "/console/"),
        Route("GET", "/console/signin"),
        Route("POST", "/console/signin"),
        Route("POST", "/console/signout"),
        Route("GET", "/console/stacks"),
        Route("GET", stack),
        Route("GET", f"{stack}/deployments"),
        Route("GET", f"{stack}/changes"),
        Route("GET", "/console/stream/admin", params=("since", "limit")),
        Route("GET", "/console/static/console.css"),
        Route("GET", "/console/no/such/page"),
    ]
    return [Route(r.method, r.path, r.body, r.params, dict(session)) for r in routes]


FAMILIES = {
    "orchestration": orchestration_routes,
    "guest": guest_routes,
    "identity": identity_routes,
    "admin": admin_routes,
    "console": console_routes,
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_no_route_answers_a_server_error_to_hostile_input(world, family):
    routes = FAMILIES[family](world)

    @HOSTILE
    @given(case=hostile(routes))
    def run(case):
        check(send(world.hearth.url, case), case)

    run()


def _raw(url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes no HTTP client would, and read the answer up to the server's close."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as connection:
        try:
            connection.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before all was read: the answer is already on its way
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


RAW_REQUESTS = [
    ("a 70 KB header line", b"GET /v1/admin/stacks HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n", 431),
    (
        "120 header fields",
        b"GET /guest/v1/servers/x/metadata HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-H%d: 1\r\n" % i for i in range(120))
        + b"\r\n",
        431,
    ),
    ("a 70 KB request line", b"GET /v1/admin/stacks?limit=" + b"9" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    ("a request line of one word", b"GARBAGE\r\n\r\n", 400),
    ("an unknown HTTP version", b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 505),
    ("a malformed HTTP version", b"GET / HTTP/1.x\r\nHost: x\r\n\r\n", 400),
    (
        "a pre-signed URL in a bad request line",
        b"PUT /signal/x?expires=1&signature=SECRETSIG a b HTTP/1.1\r\n\r\n",
        400,
    ),
    (
        "a chunk size that is not hexadecimal",
        (
            b"POST /guest/v1/deployments/x/signal HTTP/1.1\r\nHost: x\r\n"
            b"Connection: close\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nabc\r\n0\r\n\r\n"
        ),
        400,
    ),
    ("a method no route has", b"FROB / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 405),
]


@pytest.mark.parametrize("what, request_bytes, status", RAW_REQUESTS, ids=[r[0] for r in RAW_REQUESTS])
def test_the_http_layer_refuses_in_the_json_envelope(world, what, request_bytes, status):
    got, headers, body = _raw(world.hearth.url, request_bytes)
    assert got == status, body[:300]
    assert headers["content-type"] == "application/json"
    answer = json.loads(body)
    assert set(answer) == {"code", "title", "explanation", "error"} and answer["code"] == status
    assert answer["error"]["message"] == answer["explanation"] and answer["error"]["traceback"] is None
    assert b"SECRETSIG" not in body  # a request line quoted back has its signature redacted


def test_every_route_of_the_server_is_in_a_family(world):
    """A route added later is fuzzed only once it is added to a family above."""
    app = world.hearth.app
    adapter = app.url_map.bind("localhost")
    covered = set()
    for family in FAMILIES.values():
        for route in family(world):
            path = urlsplit(route.path).path
            try:
                covered.add(adapter.match(path, method=route.method)[0])
            except Exception:  # noqa: BLE001 - a redirect or an unmatched route counts as nothing
                pass
    # On a listener with both APIs the orchestration routes take these two paths and hand a
    # guest token's request to metadata_server/guest/keystone.py (orchestration_auth): fuzzed through those.
    shadowed = {"guest_heat.resource_metadata", "guest_heat.resource_signal"}
    registered = {rule.endpoint for rule in app.url_map.iter_rules()} - {"static"} - shadowed
    assert registered - covered == set()


# Every field of every body, set to each of these in turn: the property tests above pick
# fields at random, this walks them all.
WRONG_TYPES = [None, True, -1, 2**64, 1e308, "", "x", "9999-12-31T23:59:59-23:59", [], [[1]], {}, {"a": {"b": 1}}]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_body_field_of_a_wrong_type_is_refused_not_crashed(world, family):
    sent = 0
    for route in FAMILIES[family](world):
        if route.body is None:
            continue
        for where in _paths(route.body)[1:]:
            for value in WRONG_TYPES:
                case = Hostile(
                    route,
                    f"{value!r} at {where}",
                    headers={"Content-Type": "application/json", **route.headers},
                    body=json.dumps(_put(route.body, where, value)).encode(),
                    path=route.path,
                )
                check(send(world.hearth.url, case), case)
                sent += 1
    assert sent > 0


@pytest.mark.parametrize("tag", ['"' + "9" * 5000 + '"', "9" * 5000, '"\u00b2"', '"-1"', "*"])
def test_an_if_none_match_that_names_no_version_matches_nothing(world, tag):
    """A 5,000-digit If-None-Match was int()ed (Python refuses 4,300 digits or more): 500."""
    answer = requests.get(
        f"{world.hearth.url}/guest/v1/servers/{world.server}/metadata",
        timeout=30,
        headers={"Authorization": f"Bearer {world.credential}", "If-None-Match": tag.encode().decode("latin-1")},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["version"] >= 1
