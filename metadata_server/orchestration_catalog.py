"""Catalog views under `/v1/<project>/`: call `service().catalog` alone (plus the template-size
setting and the installed package's version); touch nothing else.

What the installation offers, under `/v1/<project>/`: resource types with their schemas and
generated templates, template versions with their functions, and template validation.
"""

from __future__ import annotations

import importlib.metadata

from flask import Blueprint, jsonify, request

from metadata_server.requests_ import service
from metadata_server.v1_request import bool_arg, object_body

blueprint = Blueprint("orchestration_catalog", __name__)
# Outside any project and without a token, as Heat serves it: the API versions offered.
versions_blueprint = Blueprint("versions", __name__)


@versions_blueprint.get("/")
def api_versions():
    """Heat's version document: 300 Multiple Choices naming v1.0 as current."""
    href = f"{request.host_url.rstrip('/')}{request.script_root}/v1/"
    body = {"versions": [{"id": "v1.0", "status": "CURRENT", "links": [{"rel": "self", "href": href}]}]}
    return jsonify(body), 300


@blueprint.get("/build_info")
def build_info(project: str):
    revision = installed_version()
    return jsonify({"api": {"revision": revision}, "engine": {"revision": revision}})


def installed_version() -> str:
    try:
        return importlib.metadata.version("hearth")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree
        return "unknown"


@blueprint.get("/resource_types")
def list_resource_types(project: str):
    types = service().catalog.list_types(
        name=request.args.get("name"),
        version=request.args.get("version"),
        status=request.args.get("support_status"),
        with_description=bool_arg("with_description"),
    )
    return jsonify({"resource_types": types})


@blueprint.get("/resource_types/<type_name>")
def show_resource_type(project: str, type_name: str):
    return jsonify(service().catalog.resource_schema(type_name, with_description=bool_arg("with_description")))


@blueprint.get("/resource_types/<type_name>/template")
def resource_type_template(project: str, type_name: str):
    return jsonify(service().catalog.provider_template(type_name, request.args.get("template_type") or "cfn"))


@blueprint.get("/template_versions")
def list_template_versions(project: str):
    return jsonify({"template_versions": service().catalog.template_versions()})


@blueprint.get("/template_versions/<version>/functions")
def list_template_functions(project: str, version: str):
    functions = service().catalog.function_list(version, with_condition=bool_arg("with_condition_func"))
    return jsonify({"template_functions": functions})


@blueprint.post("/validate")
def validate_template(project: str):
    body = object_body(service().runtime.config.max_template_bytes)
    # The resources are checked exactly as a create checks them.
    return jsonify(service().catalog.validate_template(body, show_nested=bool_arg("show_nested")))
