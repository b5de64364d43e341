"""The HTTP server's app factory: create_app reads HEARTH_* settings, builds and starts the engine
service and bootstraps the admin token; importing the package does nothing.

Hearth's HTTP server: a Flask app factory with thin blueprints over `engine.service`.

Importing the package loads neither Flask nor the engine: it is also the home of the `hearth`
command line (metadata_server.cli), whose client commands must not pay for the server.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from engine.config import Config
    from engine.service import Service


def create_app(
    config: Config | None = None,
    service: Service | None = None,
    *,
    start: bool = True,
    guest: bool = True,
    orchestration: bool = True,
    admin_token: str | None = None,
) -> Flask:
    """The WSGI app. `guest`/`orchestration` choose the blueprints, so the guest API can be
    served on a listener of its own that an instance network sees alone.

    `admin_token` (default: $HEARTH_ADMIN_TOKEN) is registered as the cloud admin's token;
    without one, the first start writes a random one to `<data_dir>/admin-token`."""
    from flask import Flask

    from engine.config import Config
    from engine.service import build_service
    from metadata_server import (
        admin_api,
        errors,
        orchestration as orchestration_bp,
        orchestration_auth,
    )
    from metadata_server.guest import (
        enrol as enrol_bp,
        keystone as keystone_api,
        native as guest_bp,
        temp_url,
    )

    config = config or (service.runtime.config if service else Config.from_env())
    if service is None:
        service = build_service(config)
        if start:
            service.start()
    app = Flask(__name__)
    # The per-route limits (signals, templates) are checked in the views; this is the ceiling.
    app.config["MAX_CONTENT_LENGTH"] = max(config.max_template_bytes, config.max_signal_bytes)
    app.extensions["hearth"] = service
    errors.register(app)
    from metadata_server import budget, openapi_api

    budget.install(app)  # body caps (413) and request budgets (429), before any view
    # Keystone v3 at /identity: guests sign in where the guest API is served, people where the
    # orchestration API is (metadata_server/guest/keystone.py).
    app.config[keystone_api.SIGN_IN] = {"guests": guest, "people": orchestration}
    if guest or orchestration:
        app.register_blueprint(keystone_api.identity_blueprint)
    if orchestration:
        bootstrap_identity(service, admin_token or os.environ.get("HEARTH_ADMIN_TOKEN") or None)
        orchestration_auth.register(app)
        app.register_blueprint(orchestration_bp.blueprint)
        app.register_blueprint(enrol_bp.blueprint)
        app.register_blueprint(admin_api.blueprint)
        app.register_blueprint(temp_url.account_blueprint)  # heatclient's TEMP_URL_SIGNAL
        app.register_blueprint(openapi_api.orchestration_blueprint)
        from metadata_server import orchestration_catalog

        app.register_blueprint(orchestration_catalog.versions_blueprint)
        if config.console:  # the web console (docs/console.md), for people: never on a guest-only listener
            from metadata_server.console import views as console

            app.register_blueprint(console.blueprint)
    if guest:
        app.register_blueprint(guest_bp.blueprint)
        from metadata_server.guest import facts as guest_facts

        app.register_blueprint(guest_facts.blueprint)
        app.register_blueprint(temp_url.collect_blueprint)
        # POLL_SERVER_HEAT / HEAT_SIGNAL: the two Heat routes of a guest Keystone token (on the
        # main listener the orchestration signal route, registered above, takes precedence).
        app.register_blueprint(keystone_api.heat_blueprint)
        from metadata_server.guest import cfn  # POLL_SERVER_CFN: Heat's CFN API at /v1/

        app.register_blueprint(cfn.blueprint)
        app.register_blueprint(openapi_api.guest_blueprint)
    if guest or orchestration:
        # Zaqar's queue API: guests' ZAQAR_MESSAGE / ZAQAR_SIGNAL queues where guests are served,
        # a project's own queues (event sinks') for people where they are (SIGN_IN says which).
        from metadata_server.guest import zaqar

        app.register_blueprint(zaqar.blueprint)
        app.register_blueprint(temp_url.object_blueprint)  # a temp URL PUT is a guest's signal
    return app


def bootstrap_identity(service: Service, admin_token: str | None) -> None:
    """Project `admin`, user `admin` and its token (see engine.identity.bootstrap); say where
    a token made now is stored, never the token itself."""
    written = service.admin.bootstrap(admin_token)
    if written:
        # logging is imported here, not at the top: this package is also the `hearth` client's
        # entry point (metadata_server.cli), and a client command does not log.
        import logging

        logging.getLogger(__name__).warning(
            "the admin token was created and stored in %s (readable by its owner only)", written
        )
