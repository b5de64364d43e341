"""Compute driver `deployed`: the machine already exists and enrols with a bootstrap command; it
owns nothing and touches no process, file, network or store."""

from __future__ import annotations

from typing import Any

from engine.compute.base import ComputeDriver, ServerSpec


class DeployedDriver(ComputeDriver):
    """Nothing to start: `hearth server bootstrap SERVER` prints what enrols the machine."""

    name = "deployed"
    waits_for_contact = False

    def create(self, spec: ServerSpec) -> dict[str, Any]:
        return {}

    def delete(self, server_id: str, driver_data: dict[str, Any]) -> None:
        return None
