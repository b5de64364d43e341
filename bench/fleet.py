"""The benchmark's own view of an installation: an engine `Service` on the run's store (never
started: it runs no scheduler and claims no work), and the servers, credentials and deployments
it writes there directly through the engine library, as an operator's tooling could.

Writes only rows of the run's throw-away store (bench/stores.py); the servers it makes are
`deployed` servers with no stack, each with one credential of its own.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass
class Agent:
    server_id: str
    credential: str
    version: int = 1


def open_service(db_url: str, data_dir: str, **settings):
    """An engine Service on the store with its schema current, not started."""
    from engine.config import Config
    from engine.service import build_service

    config = Config.from_env({}, db_url=db_url, data_dir=data_dir, compute="deployed", guest_rate=0, **settings)
    service = build_service(config)
    service.runtime.store.migrate()
    return service


def make_servers(service, n: int, payload_bytes: int = 1024, batch: int = 2000) -> list[Agent]:
    """N servers with a ~`payload_bytes` metadata document and one credential each."""
    from engine.guest import credentials
    from engine.store.models import Server

    runtime = service.runtime
    doc = {"os-collect-config": {"collectors": ["hearth"], "polling_interval": 30}, "padding": "x" * payload_bytes}
    agents: list[Agent] = []
    for start in range(0, n, batch):
        now = runtime.now()
        with runtime.store.session() as session:
            for i in range(start, min(n, start + batch)):
                server_id = str(uuid.uuid4())
                session.add(
                    Server(
                        id=server_id,
                        name=f"bench-{i}",
                        project="admin",
                        driver="deployed",
                        status="ACTIVE",
                        metadata_doc=doc,
                        metadata_version=1,
                        created_at=now,
                    )
                )
                secret = credentials.issue(
                    session,
                    kind="server",
                    subject_id=server_id,
                    stack_id=None,
                    now=now,
                    ttl_seconds=runtime.config.credential_ttl,
                )
                agents.append(Agent(server_id, secret))
    return agents


def make_deployments(service, agents: list[Agent], per_server: int) -> list[tuple[Agent, str]]:
    """`per_server` software deployments IN_PROGRESS for each server. The first one is made
    through the engine's software service (Heat's POST /software_configs and
    /software_deployments: one config with an output); the others are copies of its two rows
    inserted in bulk (making tens of thousands one by one would take minutes), then each
    server's metadata is rebuilt once. Returns (agent, config id) pairs: the id a deployment's
    signal is sent to, as the agent finds it in its metadata."""
    from sqlalchemy import insert, select

    from engine.guest.metadata import push_metadata
    from engine.store.models import Deployment, SoftwareConfig

    software, runtime = service.software, service.runtime
    first = software.create_software_config(
        "admin",
        {
            "name": "bench",
            "group": "script",
            "config": "#!/bin/sh\necho ok > $heat_outputs_path.result\n",
            "outputs": [{"name": "result"}],
        },
    )
    software.create_software_deployment(
        "admin",
        {"server_id": agents[0].server_id, "config_id": first["id"], "action": "CREATE", "status": "IN_PROGRESS"},
    )
    agents[0].version += 1
    with runtime.store.session() as session:
        config = session.get(SoftwareConfig, first["id"])
        deployment = session.scalar(select(Deployment).where(Deployment.config_id == first["id"]))
        body, now = config.body, runtime.now()
    made, configs, deployments = [(agents[0], first["id"])], [], []
    for n, agent in enumerate(agents):
        for i in range(1 if n == 0 else 0, per_server):
            config_id, deployment_id = str(uuid.uuid4()), str(uuid.uuid4())
            configs.append(
                {
                    "id": config_id,
                    "name": f"bench-{i}",
                    "group": "script",
                    "body": body,
                    "project": "admin",
                    "deployment_id": deployment_id,
                    "created_at": now,
                }
            )
            deployments.append(
                {
                    "id": deployment_id,
                    "config_id": config_id,
                    "server_id": agent.server_id,
                    "stack_id": None,
                    "resource_name": None,
                    "project": "admin",
                    "action": "CREATE",
                    "status": "IN_PROGRESS",
                    "status_reason": deployment.status_reason,
                    "input_values": {},
                    "output_values": {},
                    "progress": {},
                    "created_at": now,
                }
            )
            made.append((agent, config_id))
    for start in range(0, len(configs), 5000):
        with runtime.store.session() as session:
            session.execute(insert(SoftwareConfig), configs[start : start + 5000])
            session.execute(insert(Deployment), deployments[start : start + 5000])
    for start in range(0, len(agents), 500):
        with runtime.store.session() as session:
            for agent in agents[start : start + 500]:
                push_metadata(session, agent.server_id, project="admin")
                agent.version += 1
    return made
