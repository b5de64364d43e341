"""One JSON error envelope for every endpoint (Heat's shape plus a short stable code)."""
from __future__ import annotations

import logging
from http import HTTPStatus

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from engine.errors import HearthError, TooManyRequests, error_kind

log = logging.getLogger(__name__)


def envelope_body(status: int, code: str, kind: str, message: str) -> dict:
    """The envelope as a dict, for answers that add keys of a protocol of their own beside it
    (the CFN API's ErrorResponse, Keystone's error)."""
    title = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    return {"code": status, "title": title, "explanation": message,
            "error": {"type": kind, "code": code, "message": message, "traceback": None}}


def envelope(status: int, code: str, kind: str, message: str):
    response = jsonify(envelope_body(status, code, kind, message))
    response.status_code = status
    return response


def register(app: Flask) -> None:
    @app.errorhandler(HearthError)
    def hearth_error(error: HearthError):
        response = envelope(error.status, error.code, error_kind(error), error.message)
        if isinstance(error, TooManyRequests):
            response.headers["Retry-After"] = str(error.retry_after)
        return response

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        messages = {
            404: "no such endpoint: check the URL against docs/api.md",
            405: "this endpoint does not accept that method",
            413: "the request body is too large",
        }
        message = messages.get(error.code, error.description or error.name)
        code = "payload_too_large" if error.code == 413 else error.name.lower().replace(" ", "_")
        return envelope(error.code or 500, code, type(error).__name__, message)

    @app.errorhandler(Exception)
    def internal_error(error: Exception):
        log.exception("internal error")
        return envelope(500, "internal_error", "InternalError",
                        "internal server error; the server log has the details")
