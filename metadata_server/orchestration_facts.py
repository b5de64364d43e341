"""Fact views of a stack (docs/facts.md): call `service().facts` and read one setting; touch
nothing else.

`/v1/<project>/stacks/<name>/<id>/facts[/<key>]` (nested in the orchestration blueprint): list
(`?prefix=`, and `?index=N&wait=S` to block until something under the prefix changes after
index N), show, set (`PUT {"value": ...}`, `?cas=N` to compare and set) and delete (`?cas=N`).
Every answer carries the tree's index in `X-Hearth-Index` as in its body.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from metadata_server.requests_ import integer_arg, json_body, number_arg, service
from metadata_server.v1_request import stack_id

blueprint = Blueprint("orchestration_facts", __name__, url_prefix="/stacks/<name>/<uuid:uuid>")
INDEX_HEADER = "X-Hearth-Index"


def indexed(answer: dict):
    """The answer as JSON with the tree's index in its header (Consul's X-Consul-Index)."""
    response = jsonify(answer)
    response.headers[INDEX_HEADER] = str(answer["index"])
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/facts")
def list_facts(project: str, name: str, uuid):
    return indexed(
        service().facts.list_facts(
            project,
            stack_id(project, name, uuid),
            prefix=request.args.get("prefix", ""),
            index=integer_arg("index"),
            wait=number_arg("wait"),
        )
    )


@blueprint.get("/facts/<path:key>")
def show_fact(project: str, name: str, uuid, key: str):
    return indexed(service().facts.show_fact(project, stack_id(project, name, uuid), key))


@blueprint.put("/facts/<path:key>")
def set_fact(project: str, name: str, uuid, key: str):
    body = json_body()  # its size capped before the view (metadata_server/budget.py FACT_ENDPOINTS)
    answer = service().facts.set_fact(project, stack_id(project, name, uuid), key, body, cas=integer_arg("cas"))
    return indexed(answer)


@blueprint.delete("/facts/<path:key>")
def delete_fact(project: str, name: str, uuid, key: str):
    return indexed(service().facts.delete_fact(project, stack_id(project, name, uuid), key, cas=integer_arg("cas")))
