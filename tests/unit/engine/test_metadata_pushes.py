"""Concurrent deployments to one server each bump its metadata version exactly once and the
document lists them all: no push is lost to another (real stores, handlers on the pool)."""

from __future__ import annotations

from engine.store.models import Server
from tests.support import wait_for

COUNT = 12


def template() -> str:
    deployments = "".join(
        f"""
  deploy{i}:
    type: OS::Heat::SoftwareDeployment
    properties: {{config: {{get_resource: config}}, server: {{get_resource: server}}}}"""
        for i in range(COUNT)
    )
    return f"""heat_template_version: 2018-08-31
resources:
  config: {{type: OS::Heat::SoftwareConfig, properties: {{group: script, config: "#!/bin/sh\\n"}}}}
  server: {{type: OS::Heat::DeployedServer}}{deployments}
"""


def test_every_concurrent_push_gets_its_own_version(service):
    stack_id = service.stacks.create_stack("admin", {"stack_name": "pushes", "template": template()})["id"]

    def document():
        rows = {r["resource_name"]: r for r in service.resources.list_resources("admin", stack_id)}
        waiting = [
            r
            for n, r in rows.items()
            if n.startswith("deploy") and r["resource_status_reason"] == "waiting for a signal"
        ]
        if len(waiting) < COUNT:
            return None
        with service.runtime.store.session() as session:
            row = session.get(Server, rows["server"]["physical_resource_id"])
            return row.metadata_version, row.metadata_doc

    version, doc = wait_for(document, 30, message="every deployment to be pushed")
    assert len(doc["deployments"]) == COUNT
    assert version == 1 + COUNT
