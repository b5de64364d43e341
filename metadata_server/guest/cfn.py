"""POLL_SERVER_CFN: the subset of Heat's CloudFormation-compatible API that guests use, and
CloudWatch's PutMetricData at the same path; calls `service().guest` alone and touches nothing else.

`GET` or `POST /v1/?Action=DescribeStackResource&StackName=S&LogicalResourceId=R` signed with
the server's EC2 key pair (signature version 2 in the query, as os-collect-config's `cfn`
collector sends it, or version 4 in the Authorization header, as heat-cfntools/boto send it;
engine/guest/transports/cfn.py checks both). The answer is XML, as Heat's, unless `ContentType=JSON` is given;
errors take the CloudFormation error shape in the same format (`ErrorResponse/Error` with Type,
Code, Message), the JSON form also carrying Hearth's envelope keys. `/v1/` does not clash with
the orchestration API, whose paths are `/v1/<project>/...`.
"""

from __future__ import annotations

import json
import uuid
from urllib.parse import parse_qsl
from xml.etree import ElementTree

from flask import Blueprint, Response, request

from engine.errors import HearthError, TooManyRequests
from engine.service import SignedRequest
from metadata_server.errors import envelope_body
from metadata_server.requests_ import service

blueprint = Blueprint("cfn", __name__)
PATH = "/v1/"
CFN_CODES = {
    400: ("Sender", "InvalidAction"),
    403: ("Sender", "AccessDenied"),
    404: ("Sender", "ValidationError"),
    413: ("Sender", "RequestTooLarge"),
    429: ("Sender", "Throttling"),
}
# CloudWatch's word for a datum it refuses (a bad name, value, unit, time or dimension).
CLOUDWATCH_CODES = {**CFN_CODES, 400: ("Sender", "InvalidParameterValue")}


def _params() -> dict[str, str]:
    """The query parameters, plus a form body's (boto POSTs them as one)."""
    params = request.args.to_dict()
    if request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded":
        body = request.get_data(cache=True, parse_form_data=False).decode("utf-8", "replace")
        params.update(dict(parse_qsl(body, keep_blank_values=True)))
    return params


def _signed_request(params: dict[str, str]) -> SignedRequest:
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or ""
    raw_path = raw.split("?", 1)[0] or None
    if raw_path and "://" in raw_path:  # an absolute-form request target
        raw_path = "/" + raw_path.split("://", 1)[1].partition("/")[2]
    return SignedRequest(
        method=request.method,
        host=request.headers.get("Host", ""),
        path=request.path,
        raw_path=raw_path,
        params=params,
        query=request.args.to_dict(),
        headers={k.lower(): v for k, v in request.headers.items()},
        body=request.get_data(cache=True, parse_form_data=False),
        remote_addr=request.remote_addr,
    )


def _wants_json(params: dict[str, str]) -> bool:
    return params.get("ContentType", "").upper() == "JSON"


def _xml(root: str, tree: dict) -> str:
    def fill(parent, value):
        for key, item in value.items():
            child = ElementTree.SubElement(parent, key)
            if isinstance(item, dict) and key != "Metadata":
                fill(child, item)
            else:
                child.text = json.dumps(item) if key == "Metadata" else str(item)

    element = ElementTree.Element(root)
    fill(element, tree)
    return ElementTree.tostring(element, encoding="unicode")


def _error(error: HearthError, as_json: bool, codes: dict[int, tuple[str, str]] = CFN_CODES) -> Response:
    kind, code = codes.get(error.status, ("Receiver", "InternalFailure"))
    detail = {"Type": kind, "Code": code, "Message": error.message}
    if as_json:
        body = json.dumps(
            {
                **envelope_body(error.status, error.code, type(error).__name__, error.message),
                "ErrorResponse": {"Error": detail},
            }
        )
        response = Response(body, status=error.status, mimetype="application/json")
    else:
        response = Response(_xml("ErrorResponse", {"Error": detail}), status=error.status, mimetype="application/xml")
    if isinstance(error, TooManyRequests):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


@blueprint.route(PATH, methods=["GET", "POST"])
def cfn_api():
    params = _params()
    as_json = _wants_json(params)
    if params.get("Action") == "PutMetricData":
        return _put_metric_data(params, as_json)
    try:
        detail = service().guest.describe_stack_resource(
            params.get("Action"), _signed_request(params), params.get("StackName"), params.get("LogicalResourceId")
        )
    except HearthError as error:
        return _error(error, as_json)
    result = {"DescribeStackResourceResult": {"StackResourceDetail": detail}}
    if as_json:
        response = Response(json.dumps({"DescribeStackResourceResponse": result}), mimetype="application/json")
    else:
        response = Response(_xml("DescribeStackResourceResponse", result), mimetype="application/xml")
    response.headers["Cache-Control"] = "no-store"
    return response


def _put_metric_data(params: dict[str, str], as_json: bool) -> Response:
    """CloudWatch's PutMetricData, as cfn-push-stats sends it (boto's CloudWatchConnection, at
    `/v1/`): the datums stored for the server whose key signed it; boto reads only the status
    and that the answer is XML."""
    try:
        service().guest.put_metric_data(_signed_request(params))
    except HearthError as error:
        return _error(error, as_json, CLOUDWATCH_CODES)
    result = {"ResponseMetadata": {"RequestId": str(uuid.uuid4())}}
    if as_json:
        return Response(json.dumps({"PutMetricDataResponse": result}), mimetype="application/json")
    return Response(_xml("PutMetricDataResponse", result), mimetype="application/xml")
