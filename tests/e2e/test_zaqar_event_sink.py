"""A stack's `zaqar-queue` event sink read with the real python-zaqarclient, end to end: a real
Hearth server on 127.0.0.1 delivers the stack's events to the project's queue `stack-events`;
a person signs in with zaqarclient's keystone backend (keystoneauth password auth at Hearth's
/identity/v3, the `messaging` endpoint taken from the token's catalog) and walks the queue with
zaqarclient 4.x's v2 API (`queue.messages(echo=True, limit=…)`, streamed over Zaqar's `next`
links), as a consumer of Heat's event sinks does. The client is os-collect-config's pinned venv
(tests/peers.py), which is what users install; it fails under CI and skips elsewhere without it."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests import peers
from tests.support import start_server, stop_server, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.peers]

PASSWORD = "correct horse battery"
STACK = """heat_template_version: 2018-08-31
resources:
  first: {type: OS::Heat::None}
  second: {type: OS::Heat::None, depends_on: first}
"""
READER = """
import json, sys
from zaqarclient.queues.v2 import client

auth_url, user, password = sys.argv[1:4]
options = {"os_auth_url": auth_url, "os_username": user, "os_password": password,
           "os_user_domain_name": "Default", "os_project_name": "admin",
           "os_project_domain_name": "Default"}
zaqar = client.Client(conf={"auth_opts": {"backend": "keystone", "options": options}}, version=2)
queue = zaqar.queue("stack-events", auto_create=False)
assert queue.exists()
bodies = [message.body for message in queue.messages(echo=True, limit=3).stream()]
print(json.dumps(bodies))
"""


def test_a_person_reads_a_stacks_events_from_its_zaqar_queue_with_zaqarclient(tmp_path):
    occ_bin = peers.require("os-collect-config")  # its venv has python-zaqarclient 4.x and keystoneauth1
    hearth = start_server(tmp_path / "hearth")
    try:
        for path, body in (
            ("users", {"name": "reader", "password": PASSWORD}),
            ("projects/admin/users/reader/roles/member", None),
        ):
            answer = hearth.http.request(
                "POST" if body else "PUT", f"{hearth.url}/admin/v1/{path}", json=body, timeout=30
            )
            assert answer.status_code in (201, 204), answer.text
        environment = {"event_sinks": [{"type": "zaqar-queue", "target": "stack-events", "ttl": 3600}]}
        created = hearth.http.post(
            f"{hearth.api}/stacks",
            json={"stack_name": "watched", "template": STACK, "environment": environment},
            timeout=30,
        )
        assert created.status_code == 201, created.text
        stack_id = created.json()["stack"]["id"]
        hearth.wait_stack("watched", ("CREATE_COMPLETE",))
        events = hearth.http.get(f"{hearth.api}/stacks/watched/{stack_id}/events?sort_dir=asc", timeout=30).json()
        ids = [e["id"] for e in events["events"]]
        sinks = f"{hearth.api}/stacks/watched/{stack_id}/event_sinks"
        wait_for(lambda: hearth.http.get(sinks, timeout=30).json()["event_sinks"][0]["delivered"] == len(ids), 30)

        read = subprocess.run(
            [str(occ_bin / "python"), "-c", READER, f"{hearth.url}/identity/v3", "reader", PASSWORD],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert read.returncode == 0, read.stderr[-3000:]
        bodies = json.loads(read.stdout)
        assert [b["id"] for b in bodies] == ids  # every event, in order, over several pages
        sequences = [b["sequence"] for b in bodies]
        assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)
        assert {b["payload"]["stack_id"] for b in bodies} == {stack_id}
        assert bodies[-1]["payload"]["resource_status"] == "COMPLETE" and bodies[-1]["type"] == "os.heat.event"
        assert PASSWORD not in read.stdout + read.stderr
    finally:
        stop_server(hearth)
