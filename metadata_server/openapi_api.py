"""Serves the OpenAPI descriptions shipped with the server (metadata_server/openapi/*.yaml): reads
those packaged files only, never the engine."""

from __future__ import annotations

from importlib import resources

from flask import Blueprint, Response

# One blueprint per listener: a guest-only listener describes the guest API alone.
guest_blueprint = Blueprint("openapi_guest", __name__)
orchestration_blueprint = Blueprint("openapi_orchestration", __name__)


def document(name: str) -> str:
    """The text of one description; package data, so it is there in an installed server too."""
    return resources.files("metadata_server").joinpath("openapi", f"{name}.yaml").read_text()


@guest_blueprint.get("/openapi/guest.yaml")
def guest_openapi():
    return Response(document("guest"), mimetype="application/yaml")


@orchestration_blueprint.get("/openapi/orchestration.yaml")
def orchestration_openapi():
    return Response(document("orchestration"), mimetype="application/yaml")
