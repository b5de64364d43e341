"""What one replica is, by role: builds its engine service, its Flask apps and their ASGI front;
and `hearth server --workers N`, gunicorn's master over N such replicas (one per worker process,
built after the fork). Touches the store only to migrate it, through the service.

Roles (setting `role`, comma-separated): `api` serves the orchestration API, `guest` the guest
API, `engine` runs the scheduler that drives stack operations. Every replica answers
`GET /healthz` and `GET /metrics` on its port (metadata_server/asgi.py), an engine-only one nothing else.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.config import Config
    from engine.service import Service
    from metadata_server.asgi import Front


def build_replica(
    config: Config, roles: tuple[str, ...], admin_token: str | None, guest_address: tuple[str, int] | None
) -> tuple[Service, Front, Front | None]:
    """(service, front of the main listener, front of the guest-only listener if any); the
    engine's scheduler runs only with the `engine` role (the store is migrated either way)."""
    from engine.service import build_service
    from metadata_server import create_app
    from metadata_server.asgi import Front

    service = build_service(config)
    if "engine" in roles:
        service.start()
    else:
        service.runtime.store.migrate()
    guest = "guest" in roles
    app = create_app(
        config, service, admin_token=admin_token, guest=guest and config.guest_on_main, orchestration="api" in roles
    )
    front = Front(app, roles=roles)
    front.on_shutdown.append(service.stop)
    guest_front = None
    if guest_address is not None and guest:
        guest_front = Front(create_app(config, service, orchestration=False), roles=roles, metrics=False)
    return service, front, guest_front


def share_metrics() -> str:
    """Turn on prometheus-client's multiprocess mode for gunicorn's workers (docs/operations.md,
    Metrics): each worker's values go to files in PROMETHEUS_MULTIPROC_DIR, and a scrape of any
    worker sums them all. Must run before prometheus_client is imported. The operator's own
    directory is used if set (emptied: files of an earlier run would count twice), else a new one
    under the temporary directory, removed when this process exits."""
    import atexit
    import shutil
    import sys
    import tempfile

    if "prometheus_client" in sys.modules:
        raise RuntimeError("share_metrics must run before prometheus_client is imported")
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if directory:
        os.makedirs(directory, exist_ok=True)
        for name in os.listdir(directory):
            if name.endswith(".db"):
                os.unlink(os.path.join(directory, name))
    else:
        directory = tempfile.mkdtemp(prefix="hearth-metrics-")
        atexit.register(shutil.rmtree, directory, True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    return directory


def _worker_gone(_arbiter: Any, worker: Any) -> None:
    """A worker exited: its live gauges (long-polls parked, operations driven) stop counting;
    its counters and histograms stay in the sums, as a counter must not go down."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def run_workers(
    config: Config,
    roles: tuple[str, ...],
    admin_token: str | None,
    guest_address: tuple[str, int] | None,
    notify: Callable[[str], Any],
) -> None:
    """gunicorn's master in this process until SIGTERM/SIGINT (graceful: each worker answers its
    parked long-polls, finishes what is in flight within shutdown_grace and stops its engine);
    HUP replaces the workers gracefully, TTIN/TTOU add or remove one."""
    from gunicorn.app.base import BaseApplication

    from engine.service import build_service
    from metadata_server import bootstrap_identity

    # Once, before the fork: workers migrating a fresh database at once would collide.
    service = build_service(config)
    service.runtime.store.migrate()
    if "api" in roles:
        bootstrap_identity(service, admin_token or os.environ.get("HEARTH_ADMIN_TOKEN") or None)
    service.runtime.store.dispose()

    binds = [f"{_bracketed(config.host)}:{config.port}"]
    if guest_address is not None and "guest" in roles:
        binds.append(f"{_bracketed(guest_address[0])}:{guest_address[1]}")

    def load() -> Front:
        # In the worker, after the fork: a replica of its own (engine threads do not survive a
        # fork). A set node_name gets the worker's pid, so that leases tell the workers apart.
        from metadata_server.asgi import Front

        worker_config = config
        if config.node_name:
            worker_config = dataclasses.replace(config, node_name=f"{config.node_name}-{os.getpid()}")
        _service, front, guest_front = build_replica(worker_config, roles, admin_token, guest_address)
        from metadata_server import collector

        collector.install(config.gc_full_seconds)
        if guest_front is None or guest_address is None:
            return front
        # One app per worker reaches every bound socket: the guest-only port gets the guest app.
        combined = Front(front.apps[None].app, {guest_address[1]: guest_front.apps[None].app}, roles=roles)
        combined.on_shutdown = front.on_shutdown
        return combined

    options = {
        "bind": binds,
        "workers": config.workers,
        "worker_class": "metadata_server.serving.HearthWorker",
        "graceful_timeout": math.ceil(config.shutdown_grace),
        "keepalive": math.ceil(config.keepalive_seconds),
        "backlog": 4096,
        "timeout": 60,  # a worker whose loop is stuck this long is replaced
        "when_ready": lambda _arbiter: notify(f"READY=1\nSTATUS={config.workers} workers on {binds[0]}"),
        "on_exit": lambda _arbiter: notify("STOPPING=1"),
        "child_exit": _worker_gone,
        "proc_name": "hearth-server",
    }

    class Replicas(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Front:
            return load()

    Replicas().run()


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host
