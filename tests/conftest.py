"""Shared fixtures: real stores (SQLite file and PostgreSQL), a real Hearth server on 127.0.0.1."""

from __future__ import annotations

import os
import re
import uuid

import pytest

from tests.support import ADMIN_TOKEN, PG_URL, start_server, stop_server

# Every server this suite starts (in process or spawned) registers this admin token, and every
# `hearth` CLI it runs sends it: tests of authentication itself pass other tokens explicitly.
os.environ["HEARTH_ADMIN_TOKEN"] = ADMIN_TOKEN
os.environ["HEARTH_TOKEN"] = ADMIN_TOKEN


# The modules that take minutes on one worker (`--dist loadscope` keeps a module on one), longest
# first, as measured in CI (seconds, loaded machine): they are collected first so that the
# workers start on them and the many short modules fill in around them. Last, one of them alone
# would be the run's tail (xdist otherwise orders modules by their number of tests, which put
# the 458 s Heat functional suite, one test, at the very end).
LONG_FIRST = (
    "tests/heat_functional/test_heat_functional.py",  # 458
    "tests/e2e/test_openstack_cli.py",  # 331
    "tests/differential/test_differential.py",  # 270
    "tests/e2e/test_replicas.py",  # 236
    "tests/e2e/test_agent_faults.py",  # 136
    "tests/e2e/test_heat_cli.py",  # 118
    "tests/e2e/test_hook_exactly_once.py",  # 86
    "tests/e2e/test_supervision.py",  # 75
)


def pytest_collection_modifyitems(config, items):
    """Tests marked `heat` run real Heat and take minutes, and `soak` runs repeat randomised
    fault rounds for tens of minutes: each only when `-m` names it. The long modules go first."""
    asked = config.getoption("markexpr") or ""
    for marker in ("heat", "soak"):
        if re.search(rf"\b{marker}\b", asked):
            continue
        left = [item for item in items if item.get_closest_marker(marker)]
        if left:
            config.hook.pytest_deselected(items=left)
            items[:] = [item for item in items if not item.get_closest_marker(marker)]
    rank = {path: n for n, path in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(LONG_FIRST)))  # stable


@pytest.fixture(scope="session")
def postgres_server_url():
    """A database of its own on the PostgreSQL server; required when CI is set."""
    import sqlalchemy

    admin = sqlalchemy.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            name = "hearth_test_" + uuid.uuid4().hex[:12]
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except Exception as error:  # noqa: BLE001 - any failure to reach it decides fail/skip
        admin.dispose()
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI but unreachable at {PG_URL}: {error}")
        pytest.skip(f"PostgreSQL unreachable at {PG_URL}")
    url = PG_URL.rsplit("/", 1)[0] + "/" + name
    yield url
    with admin.connect() as connection:
        connection.exec_driver_sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
    admin.dispose()


def _reset_postgres(url: str) -> None:
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql("DROP SCHEMA public CASCADE")
        connection.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """Each test using it runs on a fresh SQLite file and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/hearth.db"
    url = request.getfixturevalue("postgres_server_url")
    _reset_postgres(url)
    return url


@pytest.fixture
def hearth(tmp_path):
    server = start_server(tmp_path)
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def shared_hearth(tmp_path_factory):
    """One server for a whole module, for tests that only read or only fail requests."""
    server = start_server(tmp_path_factory.mktemp("hearth"))
    yield server
    stop_server(server)


@pytest.fixture
def hearth_on(db_url, tmp_path):
    """A real server on each store: SQLite file and PostgreSQL."""
    server = start_server(tmp_path, db_url)
    yield server
    stop_server(server)


@pytest.fixture
def service(db_url, tmp_path):
    """The engine service alone (no HTTP) on each store, with the `deployed` compute driver:
    servers complete at once and deployments are completed by calling the guest API."""
    from engine.config import Config
    from engine.service import build_service

    svc = build_service(Config.from_env({}, db_url=db_url, data_dir=str(tmp_path / "data"), compute="deployed"))
    svc.start()
    yield svc
    svc.stop()
    svc.runtime.store.dispose()
