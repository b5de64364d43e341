"""A throw-away store for one benchmark run: a SQLite file in a temp dir, or a fresh PostgreSQL database.

Given a PostgreSQL URL, the database it names is only used to connect: the run creates its own
database next to it (`hearth_bench_<pid>_<random>`) and drops it afterwards, so no one's data is
touched. A SQLite URL given explicitly is used as it is.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator


def is_postgres(db_url: str | None) -> bool:
    return db_url is not None and db_url.startswith("postgresql")


@contextlib.contextmanager
def temporary_store(db_url: str | None, label: str = "run") -> Iterator[tuple[str, str]]:
    """Yield (db_url, data_dir) for one run; remove both afterwards."""
    data_dir = tempfile.mkdtemp(prefix=f"hearth-bench-{label}-")
    try:
        if not db_url:
            yield f"sqlite:///{data_dir}/hearth.db", data_dir
        elif is_postgres(db_url):
            with postgres_database(db_url, label) as url:
                yield url, data_dir
        else:
            yield db_url, data_dir
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


@contextlib.contextmanager
def postgres_database(admin_url: str, label: str) -> Iterator[str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"hearth_bench_{label}_{os.getpid()}_{secrets.token_hex(3)}".lower()
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                # FORCE (PostgreSQL 13+): a crashed run may have left connections open.
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
