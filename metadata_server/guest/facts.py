"""Guest fact routes (docs/facts.md, Guest API): call `service().guest.facts` alone and read one
setting; touch nothing else.

`/guest/v1/servers/<id>/facts` with the server's own credential: list the stack tree's facts
(`?prefix=`, `?index=N&wait=S`), set one under the server's own prefix (`PUT {"value": ...,
"bound": false}`, `?cas=N`) or delete one there.
"""

from __future__ import annotations

from flask import Blueprint, request

from engine.service import GuestAuth
from metadata_server.orchestration_facts import indexed
from metadata_server.requests_ import guest_auth, integer_arg, json_body, number_arg, service

blueprint = Blueprint("guest_facts", __name__)


def _auth() -> GuestAuth:
    auth = guest_auth()
    auth.remote_addr = request.remote_addr
    return auth


@blueprint.get("/guest/v1/servers/<server_id>/facts")
def list_facts(server_id: str):
    answer = service().guest.facts.list_facts(
        _auth(), server_id, prefix=request.args.get("prefix", ""), index=integer_arg("index"), wait=number_arg("wait")
    )
    return indexed(answer)


@blueprint.put("/guest/v1/servers/<server_id>/facts/<path:key>")
def set_fact(server_id: str, key: str):
    body = json_body()  # its size capped before the view (metadata_server/budget.py FACT_ENDPOINTS)
    return indexed(service().guest.facts.set_fact(_auth(), server_id, key, body, cas=integer_arg("cas")))


@blueprint.delete("/guest/v1/servers/<server_id>/facts/<path:key>")
def delete_fact(server_id: str, key: str):
    return indexed(service().guest.facts.delete_fact(_auth(), server_id, key, cas=integer_arg("cas")))
