"""Replicas started at the same moment on a fresh PostgreSQL database: one migrates and makes the
admin project, user and token; the others wait for it (an advisory lock) and find them made,
instead of failing on a duplicate key. Real PostgreSQL, real threads, one Store each."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from engine.config import Config
from engine.service import build_service
from engine.store.models import Project
from tests.conftest import _reset_postgres


def test_replicas_starting_together_on_a_fresh_database_all_come_up(postgres_server_url, tmp_path):
    _reset_postgres(postgres_server_url)
    services = [
        build_service(Config(db_url=postgres_server_url, data_dir=str(tmp_path), compute="deployed", node_name=f"r{n}"))
        for n in range(4)
    ]
    barrier, errors = threading.Barrier(len(services)), []

    def first_start(service) -> None:
        barrier.wait()
        try:
            service.admin.bootstrap(None)  # migrates, then makes the admin identity
        except Exception as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=first_start, args=(service,)) for service in services]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert errors == []
        with services[0].runtime.store.session() as session:
            assert session.scalar(select(func.count()).select_from(Project).where(Project.id == "admin")) == 1
        assert (tmp_path / "admin-token").exists()
    finally:
        for service in services:
            service.runtime.store.dispose()
