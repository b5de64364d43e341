"""Real Heat's API and engine in one process, without Keystone: the reference Hearth is held to.

Runs inside the reference virtualenv (openstack-heat from PyPI), never inside Hearth's:

    VENV/bin/python heat_server.py CONFIG_FILE PORT [IDENTITY_PORT]

Heat's own entry points start the API and the engine as separate services that talk over a
message bus. Here both live in this process: the engine service object is started directly
(oslo.service's threading backend would fork it away from the in-process `fake:/` transport),
and the API's paste pipeline (`noauth` flavour) is served by a threaded WSGI server. Nothing
of Heat is changed, with one opt-in exception for SQLite (see `one_sqlite_writer`).
"""

from __future__ import annotations

import os
import socketserver
import sys
import threading
from wsgiref import simple_server

from oslo_service import backend

backend.init_backend(backend.BackendType.THREADING)

from oslo_config import cfg  # noqa: E402
from oslo_log import log as logging  # noqa: E402


def one_sqlite_writer() -> None:
    """SQLite only: let one transaction run at a time.

    Heat's engine threads each open deferred transactions; two that read and then write at once
    deadlock in SQLite, which answers one of them "database is locked" at once, and a resource
    of a parallel nested stack fails at random. The reference is meant to show Heat's behaviour,
    not SQLite's, so on SQLite transactions are serialised (PostgreSQL needs nothing)."""
    import sqlalchemy

    lock = threading.RLock()

    def begin(connection):
        connection.info["reference-lock"] = lock.acquire(timeout=60)

    def end(connection):
        if connection.info.pop("reference-lock", False):
            try:
                lock.release()
            except RuntimeError:
                pass

    sqlalchemy.event.listen(sqlalchemy.engine.Engine, "begin", begin)
    sqlalchemy.event.listen(sqlalchemy.engine.Engine, "commit", end)
    sqlalchemy.event.listen(sqlalchemy.engine.Engine, "rollback", end)


class _Server(socketserver.ThreadingMixIn, simple_server.WSGIServer):
    daemon_threads = True


class _Quiet(simple_server.WSGIRequestHandler):
    def log_message(self, *args):
        pass


def main() -> None:
    config_file, port = sys.argv[1], int(sys.argv[2])
    if len(sys.argv) > 3:
        # The stand-in Keystone for stack users (reference.py's `identity`), next to this file.
        import keystone_stub

        keystone_stub.serve(int(sys.argv[3]), os.path.join(os.path.dirname(config_file), "token.json"))
    from heat import version
    from heat.common import config, messaging
    from heat.rpc import api as rpc_api

    conf = cfg.CONF
    logging.register_options(conf)
    conf(
        ["--config-file", config_file],
        project="heat",
        prog="heat-reference",
        version=version.version_info.version_string(),
    )
    logging.setup(conf, "heat-reference")
    config.set_config_defaults()
    if conf.database.connection.startswith("sqlite"):
        one_sqlite_writer()
    messaging.setup()

    from heat.engine import service as engine_service

    engine = engine_service.EngineService(conf.host, rpc_api.ENGINE_TOPIC)
    engine.start()

    app = config.load_paste_app("heat-api")
    httpd = simple_server.make_server("127.0.0.1", port, app, server_class=_Server, handler_class=_Quiet)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    print(
        f"heat reference {version.version_info.version_string()} on http://127.0.0.1:{port}/v1/admin "
        f"(pid {os.getpid()})",
        flush=True,
    )
    threading.Event().wait()


if __name__ == "__main__":
    main()
