"""One JSON error envelope for every endpoint (Heat's shape plus a short stable code); touches
nothing but the log (refusals and internal errors)."""

from __future__ import annotations

import logging
from http import HTTPStatus

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException, default_exceptions

from engine.errors import HearthError, InvalidRequest, TooManyRequests, error_kind

log = logging.getLogger(__name__)


def envelope_body(status: int, code: str, kind: str, message: str) -> dict:
    """The envelope as a dict, for answers that add keys of a protocol of their own beside it
    (the CFN API's ErrorResponse, Keystone's error)."""
    title = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    return {
        "code": status,
        "title": title,
        "explanation": message,
        "error": {"type": kind, "code": code, "message": message, "traceback": None},
    }


def envelope(status: int, code: str, kind: str, message: str):
    response = jsonify(envelope_body(status, code, kind, message))
    response.status_code = status
    return response


# The web layer's own refusals, in words a person can act on (werkzeug's are for browsers).
HTTP_MESSAGES = {
    404: "no such endpoint: check the URL against docs/api.md",
    405: "this endpoint does not accept that method",
    413: "the request body is too large",
    414: "the request line (method, path and query) is longer than 65536 bytes: send the "
    "parameters in a body, or fewer of them",
    431: "the request's header fields are too large: each header line may be at most 65536 "
    "bytes, and a request may have at most 100 of them",
}


def http_error(status: int, detail: str | None = None) -> tuple[str, str, str]:
    """(code, type, message) of an HTTP-layer error with this status: werkzeug's exception
    name as its type, our words (else `detail`, else the status phrase) as its message."""
    exception = default_exceptions.get(status)
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    name = exception().name if exception else phrase
    code = "payload_too_large" if status == 413 else name.lower().replace(" ", "_").replace("-", "_")
    return code, exception.__name__ if exception else "HTTPError", HTTP_MESSAGES.get(status) or detail or name


def register(app: Flask) -> None:
    @app.errorhandler(HearthError)
    def hearth_error(error: HearthError):
        response = envelope(error.status, error.code, error_kind(error), error.message)
        if isinstance(error, TooManyRequests):
            response.headers["Retry-After"] = str(error.retry_after)
        return response

    @app.errorhandler(HTTPException)
    def web_error(error: HTTPException):
        status = error.code or 500
        if status == 500:  # Flask's InternalServerError: an error handler that failed itself
            return internal_error(error)
        return envelope(status, *http_error(status, error.description or error.name))

    @app.errorhandler(RecursionError)
    def too_deep(error: RecursionError):
        # Request bodies and templates are held to a nesting depth before anything walks them
        # (max_json_depth, the template loader); a value nested deeper still, built some other
        # way, is the request's doing, so it is refused, and logged in case it is a bug.
        log.warning("request refused: a value nested too deeply to process", exc_info=error)
        return envelope(
            400, InvalidRequest.code, InvalidRequest.__name__, "the request holds a value nested too deeply to process"
        )

    @app.errorhandler(Exception)
    def internal_error(error: Exception):
        log.error("internal error", exc_info=error)
        return envelope(500, "internal_error", "InternalError", "internal server error; the server log has the details")
