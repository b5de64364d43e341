"""Hearth's HTTP server: a Flask app factory with thin blueprints over `engine.service`."""
from __future__ import annotations

from flask import Flask

from engine.config import Config
from engine.service import Service, build_service


def create_app(config: Config | None = None, service: Service | None = None, *,
               start: bool = True, guest: bool = True, orchestration: bool = True) -> Flask:
    """The WSGI app. `guest`/`orchestration` choose the blueprints, so the guest API can be
    served on a listener of its own that an instance network sees alone."""
    from metadata_server import errors, guest as guest_bp, orchestration as orchestration_bp

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
    if orchestration:
        app.register_blueprint(orchestration_bp.blueprint)
    if guest:
        app.register_blueprint(guest_bp.blueprint)
    return app
