"""Software config and deployment views: each calls `service().software` alone and touches nothing
else.

Heat's software config and deployment API under `/v1/<project>/` (nested in the orchestration
blueprint): what `heat config-*`/`deployment-*` and `openstack software ...` call.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from metadata_server.requests_ import integer_arg, service
from metadata_server.v1_request import object_body

blueprint = Blueprint("orchestration_software", __name__)


@blueprint.post("/software_configs")
def create_config(project: str):
    return jsonify({"software_config": service().software.create_software_config(project, object_body())})


@blueprint.get("/software_configs")
def list_configs(project: str):
    configs = service().software.list_software_configs(
        project, limit=integer_arg("limit"), marker=request.args.get("marker") or None
    )
    return jsonify({"software_configs": configs})


@blueprint.get("/software_configs/<config_id>")
def show_config(project: str, config_id: str):
    return jsonify({"software_config": service().software.show_software_config(project, config_id)})


@blueprint.delete("/software_configs/<config_id>")
def delete_config(project: str, config_id: str):
    service().software.delete_software_config(project, config_id)
    return "", 204


@blueprint.post("/software_deployments")
def create_deployment(project: str):
    return jsonify({"software_deployment": service().software.create_software_deployment(project, object_body())})


@blueprint.get("/software_deployments")
def list_deployments(project: str):
    deployments = service().software.list_software_deployments(project, request.args.get("server_id") or None)
    return jsonify({"software_deployments": deployments})


@blueprint.get("/software_deployments/metadata/<server_id>")
def deployment_metadata(project: str, server_id: str):
    return jsonify({"metadata": service().software.deployment_metadata(project, server_id)})


@blueprint.get("/software_deployments/<deployment_id>")
def show_deployment(project: str, deployment_id: str):
    return jsonify({"software_deployment": service().software.show_software_deployment(project, deployment_id)})


@blueprint.put("/software_deployments/<deployment_id>")
def update_deployment(project: str, deployment_id: str):
    deployment = service().software.update_software_deployment(project, deployment_id, object_body())
    return jsonify({"software_deployment": deployment})


@blueprint.delete("/software_deployments/<deployment_id>")
def delete_deployment(project: str, deployment_id: str):
    service().software.delete_software_deployment(project, deployment_id)
    return "", 204
