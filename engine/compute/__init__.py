"""Compute drivers: the registry built by `drivers()` maps a driver name to its class, and
`make_driver` builds one from the config; no I/O here (each driver does its own)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.compute.base import ComputeDriver, ServerSpec

if TYPE_CHECKING:
    from engine.config import Config


def drivers() -> dict[str, type[ComputeDriver]]:
    from engine.compute.deployed import DeployedDriver
    from engine.compute.local import LocalDriver

    return {"local": LocalDriver, "deployed": DeployedDriver}


def make_driver(name: str, config: Config) -> ComputeDriver:
    registry = drivers()
    if name not in registry:
        raise ValueError(f"unknown compute driver '{name}' (known: {', '.join(sorted(registry))})")
    if name == "local":
        # registry["local"] is LocalDriver, whose constructor takes these (ComputeDriver's none).
        return registry[name](
            config.resolved_data_dir,
            config.hooks_dir,  # type: ignore[call-arg]
            restart_delay=config.agent_restart_delay,
            restart_max_delay=config.agent_restart_max_delay,
            # Replicas share PostgreSQL (and, on one host, the data directory); SQLite is one process.
            shared=not config.resolved_db_url.startswith("sqlite"),
        )
    return registry[name]()


__all__ = ["ComputeDriver", "ServerSpec", "drivers", "make_driver"]
