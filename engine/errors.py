"""The error tree: every failure the engine reports is one of these, with a message a person can act on."""
from __future__ import annotations

import copy


class HearthError(Exception):
    """Base of every error Hearth reports to a user.

    `status` is the HTTP status the API answers with; `code` is a short stable word
    that clients can match on; the message is for people and never contains a secret.
    """

    status = 400
    code = "bad_request"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    @property
    def error_type(self) -> str:
        """The error's `type` in the API's envelope: its class name unless it names Heat's."""
        return type(self).__name__


class InvalidRequest(HearthError):
    status = 400
    code = "invalid_request"


class TemplateError(HearthError):
    """A template, environment or parameter problem, located by file, line and template path.

    `path` is a tuple of segments (`("resources", "web", "properties", "image")`); nested
    validation prepends its own segment with `within()` as the error travels outwards.

    `kind` is the error type Heat answers for the same problem (StackValidationFailed unless
    said otherwise: InvalidSchemaError, InvalidTemplateVersion, ...), so that clients matching
    on it keep working. `heading` is the words Heat puts before the path ("Property error");
    with one, the message reads `file:line: heading: path: reason`, exactly Heat's message
    after the location, so the path must then be Heat's path.
    """

    status = 400
    code = "template_invalid"

    def __init__(self, message: str, *, path: tuple | list = (), file: str | None = None,
                 line: int | None = None, kind: str = "StackValidationFailed",
                 heading: str | None = None):
        self.reason = message
        self.path = tuple(str(p) for p in path)
        self.file = file
        self.line = line
        self.kind = kind
        self.heading = heading
        super().__init__(self._render())

    @property
    def error_type(self) -> str:
        return self.kind

    def _render(self) -> str:
        where = self.file or "template"
        if self.line is not None:
            where = f"{where}:{self.line}"
        parts = [where] + ([self.heading] if self.heading else [])
        if self.path:
            parts.append(".".join(self.path))
        return ": ".join(parts + [self.reason])

    def within(self, *segments, file: str | None = None, line: int | None = None) -> "TemplateError":
        """Return this error with `segments` prepended to its path (and file/line filled if unknown)."""
        return self.located(path=tuple(segments) + self.path, file=self.file or file,
                            line=self.line if self.line is not None else line)

    def located(self, *, path: tuple | None = None, file: str | None = None,
                line: int | None = None, kind: str | None = None,
                heading: str | None = None) -> "TemplateError":
        """A copy of this error (of the same class) with another path, file, line, kind or heading."""
        error = copy.copy(self)
        error.path = self.path if path is None else tuple(str(p) for p in path)
        error.file, error.line = file, line
        error.kind = kind or self.kind
        error.heading = heading or self.heading
        error.message = error._render()
        error.args = (error.message,)
        return error


class DependencyCycle(TemplateError):
    code = "dependency_cycle"

    def __init__(self, members: list[str], *, file: str | None = None):
        self.members = list(members)
        super().__init__("Circular Dependency Found: " + " -> ".join(
            self.members + self.members[:1]), path=("resources",), file=file,
            kind="CircularDependencyException")


class Unauthorized(HearthError):
    status = 401
    code = "unauthorized"


class Forbidden(HearthError):
    status = 403
    code = "forbidden"


class NotFound(HearthError):
    status = 404
    code = "not_found"


class Conflict(HearthError):
    status = 409
    code = "conflict"


class PayloadTooLarge(HearthError):
    status = 413
    code = "payload_too_large"


class TooManyRequests(HearthError):
    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, retry_after: int = 1):
        super().__init__(message)
        self.retry_after = retry_after


class ResourceFailure(HearthError):
    """A resource handler failed; the message becomes the resource's status reason."""

    code = "resource_failed"
