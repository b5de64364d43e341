"""POLL_SERVER_CFN over real HTTP: the EC2 signers against known answers, DescribeStackResource
in XML and JSON, and every refusal (tampered path, parameter, host, secret; another server's
key; a revoked key; an unknown action), audited without the secret."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from urllib.parse import urlencode, urlsplit
from xml.etree import ElementTree

import pytest
import requests

from engine.guest.transports import cfn
from engine.runtime import utcnow
from engine.store.models import AuditEvent, Credential
from tests.support import start_server, stop_server

KEY, SECRET = "0123456789abcdef0123456789abcdef", "s3cr3t/key+~"


def test_key_pairs_are_hex_so_no_secret_reads_as_a_command_line_option():
    """A user-data script passes the key as `--secret-key $KEY`; a secret starting with '-' would
    be taken for an option by cfn-get-metadata (argparse). Keystone makes Heat's as uuid hex."""
    pairs = [cfn.new_key_pair() for _ in range(500)]
    for access, secret in pairs:
        assert len(access) == 32 and len(secret) == 32
        int(access, 16), int(secret, 16)  # raises on anything but hex
    assert len({secret for _, secret in pairs}) == 500


def test_sigv2_known_answer():
    """The value keystoneclient's Ec2Signer (os-collect-config 14.1.0's signer) computed for
    these inputs; HmacSHA1 is the same string under SHA-1."""
    params = {
        "Action": "DescribeStackResource",
        "StackName": "my stack",
        "LogicalResourceId": "server",
        "AWSAccessKeyId": KEY,
        "SignatureVersion": "2",
        "SignatureMethod": "HmacSHA256",
    }
    assert (
        cfn.sign_v2(SECRET, "GET", "127.0.0.1:8000", "/v1/", params) == "4t8wFMCY7RK5QegT8i2d8eAaIvk6L5vzXwegYDtGqNQ="
    )
    assert cfn.canonical_query_v2({**params, "Signature": "x"}) == (
        "AWSAccessKeyId=0123456789abcdef0123456789abcdef&Action=DescribeStackResource&"
        "LogicalResourceId=server&SignatureMethod=HmacSHA256&SignatureVersion=2&StackName=my%20stack"
    )
    sha1 = cfn.sign_v2(SECRET, "GET", "127.0.0.1:8000", "/v1/", params, "HmacSHA1")
    assert len(sha1) == 28 and sha1 != cfn.sign_v2(SECRET, "GET", "127.0.0.1:8000", "/v1/", params)


def test_sigv4_known_answer():
    """The Authorization header boto 2.49 (heat-cfntools' cfn-get-metadata) sent for
    DescribeStackResource to 127.0.0.1:8000 at 2026-11-22 10:00:00 UTC: scope 0/127."""
    query = {
        "Action": "DescribeStackResource",
        "ContentType": "JSON",
        "StackName": "my stack",
        "LogicalResourceId": "server",
        "Version": "2010-05-15",
    }
    headers = {"host": "127.0.0.1:8000", "x-amz-date": "20261122T100000Z"}
    canonical = cfn.canonical_request_v4(
        "GET", cfn.canonical_uri_v4("/v1/"), query, headers, ["host", "x-amz-date"], b""
    )
    assert (
        cfn.sign_v4(SECRET, "20261122T100000Z", "20261122/0/127/aws4_request", canonical)
        == "62cc3b6fae5e7df7a794ca969604e63b3ba598d41c83ae264cdf2ea7b684f78b"
    )


def _v4_request(
    host: str, path: str, query: dict, amz_date: str, secret: str = SECRET, key: str = KEY
) -> cfn.SignedRequest:
    headers = {"host": host, "x-amz-date": amz_date}
    scope = f"{amz_date[:8]}/0/127/aws4_request"
    canonical = cfn.canonical_request_v4("GET", cfn.canonical_uri_v4(path), query, headers, ["host", "x-amz-date"], b"")
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={key}/{scope},SignedHeaders=host;"
        f"x-amz-date,Signature={cfn.sign_v4(secret, amz_date, scope, canonical)}"
    )
    return cfn.SignedRequest(method="GET", host=host, path=path, params=dict(query), query=dict(query), headers=headers)


def test_sigv4_checks_path_query_host_secret_and_clock():
    now = dt.datetime(2026, 11, 22, 10, 0, 0)  # noqa: DTZ001 - naive UTC, as the engine reads times
    query = {"Action": "DescribeStackResource", "StackName": "s", "LogicalResourceId": "server"}
    good = _v4_request("127.0.0.1:8000", "/v1/", query, "20261122T100000Z")
    cfn.parse_claim(good, now).check(SECRET)  # accepted
    cfn.parse_claim(good, now + dt.timedelta(minutes=14)).check(SECRET)  # within the skew
    bad = [
        (dict(good.__dict__, path="/v2/"), now),
        (dict(good.__dict__, query={**query, "StackName": "other"}), now),
        (dict(good.__dict__, host="127.0.0.1:8001", headers={**good.headers, "host": "127.0.0.1:8001"}), now),
    ]
    for fields, moment in bad:
        with pytest.raises(cfn.Forbidden):
            cfn.parse_claim(cfn.SignedRequest(**fields), moment).check(SECRET)
    with pytest.raises(cfn.Forbidden):
        cfn.parse_claim(good, now).check("another secret")
    with pytest.raises(cfn.Forbidden, match="minutes"):
        cfn.parse_claim(good, now + dt.timedelta(minutes=16))


def test_sigv2_accepts_the_host_without_its_port_and_refuses_tampering():
    params = {
        "Action": "DescribeStackResource",
        "StackName": "s",
        "LogicalResourceId": "server",
        "AWSAccessKeyId": KEY,
        "SignatureVersion": "2",
        "SignatureMethod": "HmacSHA256",
    }
    bare = {**params, "Signature": cfn.sign_v2(SECRET, "GET", "127.0.0.1", "/v1/", params)}
    request = cfn.SignedRequest(method="GET", host="127.0.0.1:8000", path="/v1/", params=bare)
    cfn.parse_claim(request, utcnow()).check(SECRET)  # signed without the port: accepted
    for fields in (
        {"path": "/v1"},
        {"params": {**bare, "LogicalResourceId": "other"}},
        {"host": "10.0.0.1:8000"},
        {"method": "POST"},
    ):
        with pytest.raises(cfn.Forbidden):
            cfn.parse_claim(cfn.SignedRequest(**{**request.__dict__, **fields}), utcnow()).check(SECRET)
    with pytest.raises(cfn.Forbidden):
        cfn.parse_claim(request, utcnow()).check("another secret")
    with pytest.raises(cfn.Forbidden, match="SignatureVersion"):
        cfn.parse_claim(
            cfn.SignedRequest(method="GET", host="h", path="/v1/", params={**bare, "SignatureVersion": "1"}), utcnow()
        )


# -- over HTTP, with stacks ------------------------------------------------------------------

TEMPLATE = """
heat_template_version: 2018-08-31
parameters:
  transport: {type: string, default: POLL_SERVER_CFN}
resources:
  server:
    type: OS::Heat::DeployedServer
    properties: {software_config_transport: {get_param: transport}}
  config:
    type: OS::Heat::SoftwareConfig
    properties: {group: script, config: "#!/bin/sh\\necho hi\\n"}
  deployment:
    type: OS::Heat::SoftwareDeployment
    properties: {config: {get_resource: config}, server: {get_resource: server},
                 signal_transport: NO_SIGNAL}
outputs:
  occ: {value: {get_attr: [server, os_collect_config]}}
"""


@pytest.fixture
def hearth(tmp_path):
    server = start_server(tmp_path)
    yield server
    stop_server(server)


def make_stack(hearth, name: str) -> dict:
    hearth.create_stack(name, TEMPLATE)
    stack = hearth.wait_stack(name, ("CREATE_COMPLETE",), timeout=30)
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    return hearth.outputs(name)["occ"]


def v2_get(
    section: dict, *, stack_name=None, resource=None, secret=None, sign_host=None, sign_path=None, extra=None, url=None
) -> requests.Response:
    """A GET signed as os-collect-config's cfn collector signs it."""
    url = url or section["metadata_url"]
    parts = urlsplit(url)
    params = {
        "Action": "DescribeStackResource",
        "StackName": stack_name or section["stack_name"],
        "LogicalResourceId": resource or section["path"].split(".")[0],
        "AWSAccessKeyId": section["access_key_id"],
        "SignatureVersion": "2",
        "SignatureMethod": "HmacSHA256",
        **(extra or {}),
    }
    params["Signature"] = cfn.sign_v2(
        secret or section["secret_access_key"], "GET", sign_host or parts.netloc, sign_path or parts.path, params
    )
    return requests.get(f"{url}?{urlencode(params)}", headers={"Content-Type": "application/json"}, timeout=10)


def test_the_default_transport_gives_heat_cfn_section_and_answers_xml(hearth):
    occ = make_stack(hearth, "one")
    assert occ["collectors"] == ["cfn", "local"]  # DeployedServer: no ec2 (LP #1669842)
    cfn = occ["cfn"]
    assert set(cfn) == {"metadata_url", "access_key_id", "secret_access_key", "stack_name", "path"}
    assert cfn["metadata_url"] == f"{hearth.url}/v1/" and cfn["stack_name"] == "one"
    assert cfn["path"] == "server.Metadata" and len(cfn["access_key_id"]) == 32
    int(cfn["access_key_id"], 16)

    answer = v2_get(cfn)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("application/xml")
    detail = ElementTree.fromstring(answer.text).find("DescribeStackResourceResult").find("StackResourceDetail")
    metadata = json.loads(detail.find("Metadata").text)
    assert [d["config"] for d in metadata["deployments"]] == ["#!/bin/sh\necho hi\n"]
    assert metadata["os-collect-config"]["cfn"] == cfn
    assert detail.find("LogicalResourceId").text == "server"
    assert detail.find("ResourceType").text == "OS::Heat::DeployedServer"
    assert detail.find("StackName").text == "one"

    # The stack named by id works too; JSON when asked.
    stack_id = hearth.stack("one")["id"]
    answer = v2_get(cfn, stack_name=stack_id, extra={"ContentType": "JSON"})
    assert answer.status_code == 200, answer.text
    body = answer.json()["DescribeStackResourceResponse"]["DescribeStackResourceResult"]
    assert body["StackResourceDetail"]["Metadata"] == metadata


def test_sigv4_json_answer_over_http(hearth):
    cfn = make_stack(hearth, "v4")["cfn"]
    parts = urlsplit(cfn["metadata_url"])
    query = {
        "Action": "DescribeStackResource",
        "ContentType": "JSON",
        "StackName": "v4",
        "LogicalResourceId": "server",
        "Version": "2010-05-15",
    }
    amz_date = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    signed = _v4_request(parts.netloc, parts.path, query, amz_date, cfn["secret_access_key"], cfn["access_key_id"])
    headers = {"X-Amz-Date": amz_date, "Authorization": signed.headers["authorization"]}
    answer = requests.get(f"{cfn['metadata_url']}?{urlencode(query)}", headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    detail = answer.json()["DescribeStackResourceResponse"]["DescribeStackResourceResult"]["StackResourceDetail"]
    assert detail["Metadata"]["os-collect-config"]["cfn"]["access_key_id"] == cfn["access_key_id"]
    forged = {**headers, "Authorization": headers["Authorization"][:-4] + "0000"}
    refused = requests.get(f"{cfn['metadata_url']}?{urlencode(query)}", headers=forged, timeout=10)
    assert refused.status_code == 403
    assert refused.json()["ErrorResponse"]["Error"]["Code"] == "AccessDenied"


def _code(answer: requests.Response) -> str:
    return ElementTree.fromstring(answer.text).find("Error").find("Code").text


def test_refusals_are_cfn_errors_and_audited_without_the_secret(hearth):
    cfn = make_stack(hearth, "a")["cfn"]
    other = make_stack(hearth, "b")["cfn"]
    cases = {
        "forged secret": v2_get(cfn, secret="not the secret"),
        "tampered host": v2_get(cfn, sign_host="evil.example:80"),
        "tampered path": v2_get(cfn, sign_path="/v2/"),
        "another stack": v2_get(cfn, stack_name="b"),
        "another resource": v2_get(cfn, resource="deployment"),
        "another server's key on this stack": v2_get(other, stack_name="a"),
        "unknown key": v2_get({**cfn, "access_key_id": "f" * 32}),
        "unsigned": requests.get(
            f"{cfn['metadata_url']}?Action=DescribeStackResource&StackName=a&LogicalResourceId=server", timeout=10
        ),
    }
    for why, answer in cases.items():
        assert answer.status_code == 403, why
        assert _code(answer) == "AccessDenied", why
        error = ElementTree.fromstring(answer.text).find("Error")
        assert error.find("Type").text == "Sender" and error.find("Message").text, why
        assert cfn["secret_access_key"] not in answer.text
    tampered = v2_get(cfn, extra={"LogicalResourceId": "server"})  # signed params == sent: fine
    assert tampered.status_code == 200
    unknown = v2_get(cfn, extra={"Action": "ListStacks"})
    assert unknown.status_code == 400 and _code(unknown) == "InvalidAction"
    as_json = requests.get(f"{cfn['metadata_url']}?Action=Nope&ContentType=JSON", timeout=10)
    assert as_json.status_code == 400 and as_json.json()["ErrorResponse"]["Error"]["Code"] == "InvalidAction"
    assert v2_get(cfn).status_code == 200  # the good key still works

    runtime = hearth.service.runtime
    with runtime.store.session() as session:
        events = [
            e
            for e in session.query(AuditEvent).filter(AuditEvent.action == "auth.failed")
            if (e.detail or {}).get("api") == "cfn"
        ]
        assert len(events) >= len(cases)
        assert cfn["access_key_id"] in {e.actor for e in events}
        for event in events:
            assert cfn["secret_access_key"] not in json.dumps(event.detail)
        row = session.get(Credential, cfn["access_key_id"])
        assert row.kind == "ec2" and row.secret_hash != cfn["secret_access_key"]
    database = (hearth.config.db_url or "").removeprefix("sqlite:///")
    stored = b"".join(p.read_bytes() for p in Path(database).parent.glob(Path(database).name + "*"))
    assert cfn["access_key_id"].encode() in stored  # the right file was read
    assert cfn["secret_access_key"].encode() not in stored  # sealed at rest, never in clear


def test_a_key_dies_with_its_server_and_with_its_transport(hearth):
    cfn = make_stack(hearth, "sw")
    cfn = cfn["cfn"]
    stack = hearth.stack("sw")

    def put(transport: str) -> dict:
        answer = hearth.http.put(
            f"{hearth.api}/stacks/sw/{stack['id']}",
            timeout=30,
            json={"template": TEMPLATE, "parameters": {"transport": transport}},
        )
        assert answer.status_code == 202, answer.text
        done = hearth.wait_stack("sw", ("UPDATE_COMPLETE",), timeout=30)
        assert done["stack_status"] == "UPDATE_COMPLETE", done["stack_status_reason"]
        return hearth.outputs("sw")["occ"]

    same = put("POLL_SERVER_CFN")
    assert same["cfn"] == cfn  # kept across an update: the guest has it configured
    assert v2_get(cfn).status_code == 200
    away = put("POLL_TEMP_URL")
    assert away["cfn"] == dict.fromkeys(cfn)
    assert v2_get(cfn).status_code == 403
    back = put("POLL_SERVER_CFN")["cfn"]
    assert back["access_key_id"] != cfn["access_key_id"]
    assert v2_get(back).status_code == 200 and v2_get(cfn).status_code == 403
    with hearth.service.runtime.store.session() as session:
        assert session.get(Credential, cfn["access_key_id"]).revoked_at is not None
    hearth.delete("sw")
    assert v2_get(back).status_code == 403
    with hearth.service.runtime.store.session() as session:
        assert session.get(Credential, back["access_key_id"]).revoked_at is not None


def test_the_route_does_not_shadow_the_orchestration_api(hearth):
    """`/v1/` is the CFN API; `/v1/<project>/...` stays the orchestration API."""
    assert hearth.http.get(f"{hearth.api}/stacks", timeout=10).status_code == 200
    assert requests.get(f"{hearth.url}/v1/", timeout=10).status_code == 400  # no Action


def test_the_route_is_served_by_a_guest_only_app(tmp_path):
    """With the guest API on a listener of its own, /v1/ is there (and /v1/<project> is not)."""
    from engine.config import Config
    from metadata_server import create_app

    config = Config.from_env({}, db_url=f"sqlite:///{tmp_path}/hearth.db", data_dir=str(tmp_path / "data"))
    app = create_app(config, start=False, orchestration=False)
    try:
        client = app.test_client()
        answer = client.get("/v1/?Action=DescribeStackResource&StackName=s&LogicalResourceId=r")
        assert answer.status_code == 403 and b"<Code>AccessDenied</Code>" in answer.data
        assert client.get("/v1/admin/stacks").status_code == 404
    finally:
        app.extensions["hearth"].runtime.store.dispose()
