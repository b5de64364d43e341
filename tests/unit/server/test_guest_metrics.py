"""Metric samples over real HTTP against a real server and real stacks: the native route takes
only the server's own credential, refuses bad samples naming the field and answers 429 with
Retry-After past the per-server budget; CloudWatch PutMetricData signed with the server's EC2
key (signature version 2, built here with the engine's signer) stores its datums for that
server; both land in metric_samples with the server's project and id, and pruning keeps the
retention and the per-server cap."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit
from xml.etree import ElementTree

import pytest
import requests
from sqlalchemy import select

from engine.guest.metric_samples import prune, store_samples
from engine.guest.transports import cfn
from engine.store.models import AuditEvent, MetricSample
from tests.support import start_server, stop_server, wait_for

TEMPLATE = """
heat_template_version: 2018-08-31
resources:
  web:
    type: OS::Heat::DeployedServer
    properties: {software_config_transport: POLL_SERVER_CFN}
  db:
    type: OS::Heat::DeployedServer
    properties: {software_config_transport: POLL_SERVER_CFN}
outputs:
  web_cfn: {value: {get_attr: [web, os_collect_config, cfn]}}
  db_cfn: {value: {get_attr: [db, os_collect_config, cfn]}}
"""


class Fleet:
    """Stack `fleet` with servers web and db, each with its own bearer credential and EC2 key."""

    def __init__(self, hearth):
        self.hearth = hearth
        hearth.create_stack("fleet", TEMPLATE)
        stack = hearth.wait_stack("fleet", ("CREATE_COMPLETE",), timeout=30)
        assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
        resources = hearth.resources("fleet")
        self.web, self.db = (resources[n]["physical_resource_id"] for n in ("web", "db"))
        self.web_credential, self.db_credential = (self._enrol(s) for s in (self.web, self.db))
        outputs = hearth.outputs("fleet")
        self.web_key, self.db_key = outputs["web_cfn"], outputs["db_cfn"]
        self.guest = requests.Session()

    def _enrol(self, server_id: str) -> str:
        answer = self.hearth.http.post(f"{self.hearth.api}/servers/{server_id}/bootstrap", json={}, timeout=30)
        assert answer.status_code == 201, answer.text
        return answer.json()["bootstrap"]["credential"]

    def report(self, server_id: str, credential: str | None, body) -> requests.Response:
        headers = {"Authorization": f"Bearer {credential}"} if credential else {}
        url = f"{self.hearth.url}/guest/v1/servers/{server_id}/metrics"
        if isinstance(body, str):  # JSON text as sent, which requests would not encode (Infinity)
            headers["Content-Type"] = "application/json"
            return self.guest.post(url, data=body, headers=headers, timeout=30)
        return self.guest.post(url, json=body, headers=headers, timeout=30)

    def rows(self, server_id: str | None = None) -> list[MetricSample]:
        with self.hearth.service.runtime.store.session() as session:
            query = select(MetricSample).order_by(MetricSample.id)
            if server_id is not None:
                query = query.where(MetricSample.server_id == server_id)
            rows = list(session.scalars(query))
            session.expunge_all()
            return rows


@pytest.fixture
def fleet(tmp_path):
    hearth = start_server(tmp_path, compute="deployed", metric_samples_per_minute=20, metric_prune_seconds=0)
    fleet = Fleet(hearth)
    yield fleet
    fleet.guest.close()
    stop_server(hearth)


def test_the_native_route_stores_the_servers_own_samples_and_nobody_elses(fleet):
    sample = {"name": "cpu_util", "value": 42.0, "unit": "%", "dimensions": {"role": "web"}}
    answer = fleet.report(fleet.web, fleet.web_credential, {"metrics": [sample, {"name": "load", "value": 0.5}]})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"stored": 2, "expired": 0}
    rows = fleet.rows()
    assert [(r.project, r.server_id, r.namespace, r.name, r.value, r.unit, r.dimensions) for r in rows] == [
        ("admin", fleet.web, "hearth", "cpu_util", 42.0, "%", {"role": "web"}),
        ("admin", fleet.web, "hearth", "load", 0.5, None, {}),
    ]
    assert abs(rows[0].timestamp - fleet.hearth.service.runtime.now()) < dt.timedelta(seconds=30)

    # Another server's credential reaches only its own server's route; none reaches none.
    refused = fleet.report(fleet.web, fleet.db_credential, {"metrics": [sample]})
    assert refused.status_code == 403 and "use that one's own" in refused.json()["error"]["message"]
    assert fleet.report(fleet.web, None, {"metrics": [sample]}).status_code == 401
    assert fleet.report(fleet.web, "hgs_forged", {"metrics": [sample]}).status_code == 401
    assert len(fleet.rows()) == 2
    with fleet.hearth.service.runtime.store.session() as session:
        record = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert record.action == "auth.failed" and record.detail["operation"] == "metrics"
        assert fleet.db_credential not in str(record.detail)
    own = fleet.report(fleet.db, fleet.db_credential, {"metrics": [sample]})
    assert own.status_code == 200 and [r.name for r in fleet.rows(fleet.db)] == ["cpu_util"]


def test_bad_samples_are_refused_naming_the_field_and_nothing_is_stored(fleet):
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    for body, status, words in [
        ({"metrics": [{"name": "ok", "value": 1}, {"name": "bad\u0007", "value": 1}]}, 400, "metrics[1].name"),
        ('{"metrics": [{"name": "x", "value": 1e400}]}', 400, "1e400 is too large"),
        ('{"metrics": [{"name": "x", "value": Infinity}]}', 400, "Infinity"),  # not JSON at all
        ({"metrics": [{"name": "x", "value": "NaN"}]}, 400, "metrics[0].value: must be a number"),
        ({"metrics": [{"name": "x", "value": 1}] * 101}, 400, "metric_max_samples_per_request"),
        ({"metrics": [{"name": "x", "value": 1, "timestamp": future}]}, 400, "metrics[0].timestamp"),
        ({"samples": []}, 400, '{"metrics": ['),
    ]:
        answer = fleet.report(fleet.web, fleet.web_credential, body)
        assert answer.status_code == status, answer.text
        error = answer.json()["error"]
        assert error["code"] in ("invalid_request", "bad_request") and words in error["message"], error
    assert fleet.rows() == []


def test_past_the_per_server_budget_the_answer_is_429_with_retry_after(fleet):
    ten = {"metrics": [{"name": "x", "value": n} for n in range(10)]}
    assert fleet.report(fleet.web, fleet.web_credential, ten).status_code == 200
    assert fleet.report(fleet.web, fleet.web_credential, ten).status_code == 200
    over = fleet.report(fleet.web, fleet.web_credential, ten)
    assert over.status_code == 429, over.text
    assert int(over.headers["Retry-After"]) >= 1 and "metric_samples_per_minute" in over.json()["error"]["message"]
    assert fleet.report(fleet.db, fleet.db_credential, ten).status_code == 200  # its own budget
    assert len(fleet.rows(fleet.web)) == 20


def put_metric_data(key: dict, params: dict, secret: str | None = None) -> requests.Response:
    """PutMetricData POSTed as a form, signed with signature version 2 over the form's
    parameters (as boto's v2 signer would)."""
    url = key["metadata_url"]
    parts = urlsplit(url)
    form = {
        "Action": "PutMetricData",
        "Version": "2010-08-01",
        "AWSAccessKeyId": key["access_key_id"],
        "SignatureVersion": "2",
        "SignatureMethod": "HmacSHA256",
        **params,
    }
    form["Signature"] = cfn.sign_v2(secret or key["secret_access_key"], "POST", parts.netloc, parts.path, form)
    return requests.post(url, data=form, timeout=30)


def test_put_metric_data_stores_each_datum_for_the_server_whose_key_signed_it(fleet):
    datum = {
        "Namespace": "system/linux",
        "MetricData.member.1.MetricName": "MemoryUtilization",
        "MetricData.member.1.Value": "41.5",
        "MetricData.member.1.Unit": "Percent",
        "MetricData.member.1.Dimensions.member.1.Name": "AlarmName",
        "MetricData.member.1.Dimensions.member.1.Value": "web-high",
    }
    answer = put_metric_data(fleet.web_key, datum)
    assert answer.status_code == 200, answer.text
    assert ElementTree.fromstring(answer.text).tag == "PutMetricDataResponse"
    [row] = fleet.rows()
    assert (row.project, row.server_id, row.namespace, row.name, row.value, row.unit, row.dimensions) == (
        "admin",
        fleet.web,
        "system/linux",
        "MemoryUtilization",
        41.5,
        "Percent",
        {"AlarmName": "web-high"},
    )
    forged = put_metric_data(fleet.web_key, datum, secret=fleet.db_key["secret_access_key"])
    assert forged.status_code == 403 and "AccessDenied" in forged.text
    bad = put_metric_data(fleet.web_key, {**datum, "MetricData.member.1.Value": "Infinity"})
    assert bad.status_code == 400 and "MetricData[0].value" in bad.text and "InvalidParameterValue" in bad.text
    assert len(fleet.rows()) == 1


def test_pruning_keeps_the_retention_and_the_cap_and_is_idempotent(tmp_path, db_url):
    """On SQLite and PostgreSQL; four prunings at once (as four replicas' threads would run
    them, each in its own transaction) delete each row once and leave the same table."""
    hearth = start_server(
        tmp_path,
        db_url,
        compute="deployed",
        metric_max_samples_per_server=3,
        metric_prune_seconds=0,
        metric_retention_seconds=600,
    )
    try:
        fleet = Fleet(hearth)
        runtime = hearth.service.runtime
        now = runtime.now()
        old = (now - dt.timedelta(seconds=700)).isoformat() + "Z"
        answer = fleet.report(
            fleet.web, fleet.web_credential, {"metrics": [{"name": "x", "value": 0, "timestamp": old}]}
        )
        assert answer.json() == {"stored": 0, "expired": 1}
        stamps = [(now - dt.timedelta(seconds=s)).isoformat() + "Z" for s in (500, 400, 300, 200, 100)]
        body = {"metrics": [{"name": "x", "value": n, "timestamp": t} for n, t in enumerate(stamps)]}
        assert fleet.report(fleet.web, fleet.web_credential, body).json() == {"stored": 5, "expired": 0}
        assert fleet.report(fleet.db, fleet.db_credential, {"metrics": body["metrics"][:2]}).status_code == 200
        with ThreadPoolExecutor(4) as replicas:
            deleted = list(replicas.map(lambda _: prune(runtime), range(4)))
        assert sum(deleted) == 2, deleted  # web's two oldest, beyond its cap of 3
        assert [r.value for r in fleet.rows(fleet.web)] == [2.0, 3.0, 4.0]
        assert [r.value for r in fleet.rows(fleet.db)] == [0.0, 1.0]
        assert prune(runtime) == 0  # again: nothing more
        runtime.clock = lambda: now + dt.timedelta(seconds=450)  # 0 and 1 (db), 2 and 3 (web) age out
        assert prune(runtime) == 4
        assert [r.value for r in fleet.rows()] == [4.0]
    finally:
        stop_server(hearth)


def test_the_serving_process_prunes_by_itself(tmp_path):
    """The Retention thread every replica starts: a row past the retention (written straight
    into the table, as the routes would not store it) goes within a few prunings."""
    hearth = start_server(tmp_path, compute="deployed", metric_prune_seconds=0.1, metric_retention_seconds=60)
    try:
        fleet = Fleet(hearth)
        runtime = hearth.service.runtime
        assert fleet.report(fleet.web, fleet.web_credential, {"metrics": [{"name": "fresh", "value": 1}]}).ok
        with runtime.store.session() as session:
            store_samples(
                session,
                "admin",
                fleet.web,
                [
                    {
                        "namespace": "hearth",
                        "name": "stale",
                        "value": 0.0,
                        "unit": None,
                        "dimensions": {},
                        "timestamp": runtime.now() - dt.timedelta(seconds=120),
                    }
                ],
            )
        wait_for(lambda: [r.name for r in fleet.rows()] == ["fresh"], 30, 0.05, "the stale sample to be pruned")
    finally:
        stop_server(hearth)
