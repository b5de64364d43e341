"""A stack's servers and deployments as the web console shows them (docs/console.md): read-only
views over the store, scoped to one project like every other part; no writes.

`Service.servers`: each server of a stack with its agent's liveness (engine/guest/liveness.py's
rule), and each deployment of a stack with its outputs (masked as the API masks them), so
that the console needs no query of its own.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from engine import views
from engine.guest import liveness
from engine.runtime import Runtime, iso
from engine.service.stacks import Stacks
from engine.store.models import Deployment, Server


class Servers:
    """`service.servers`: what a stack's servers and their agents are doing."""

    def __init__(self, runtime: Runtime, stacks: Stacks):
        self.runtime = runtime
        self.stacks = stacks

    def stack_servers(self, project: str, stack_id: str) -> list[dict[str, Any]]:
        """The live servers of the stack (its own resources), oldest first, each with its
        agent's last contact and health; another project's stack is not found."""
        stack = self.stacks.find_stack(project, stack_id, by_id_only=True)
        now = self.runtime.now()
        config = self.runtime.config
        query = (
            select(Server)
            .where(Server.project == project, Server.stack_id == stack.id, Server.deleted_at.is_(None))
            .order_by(Server.created_at, Server.id)
        )
        with self.runtime.store.session() as session:
            return [
                {
                    "id": server.id,
                    "name": server.name,
                    "resource_name": server.resource_name,
                    "status": server.status,
                    "driver": server.driver,
                    "first_contact": iso(server.first_contact_at) if server.first_contact_at else None,
                    "last_seen": iso(server.last_seen_at) if server.last_seen_at else None,
                    "health": liveness.health(config, server.first_contact_at, server.last_seen_at, now),
                    "agent_version": server.agent_version,  # as its agent's requests name it
                }
                for server in session.scalars(query)
            ]

    def stack_deployments(self, project: str, stack_id: str) -> list[dict[str, Any]]:
        """The stack's deployments (Heat's deployment view, outputs masked) with the resource
        each belongs to, by creation."""
        stack = self.stacks.find_stack(project, stack_id, by_id_only=True)
        query = (
            select(Deployment)
            .where(Deployment.project == project, Deployment.stack_id == stack.id)
            .order_by(Deployment.created_at, Deployment.id)
        )
        with self.runtime.store.session() as session:
            return [
                {**views.deployment_view(row), "resource_name": row.resource_name} for row in session.scalars(query)
            ]
