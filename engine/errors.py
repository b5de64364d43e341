"""The error tree: every failure the engine reports is one of these, with a message a person can act on."""
from __future__ import annotations


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


class InvalidRequest(HearthError):
    status = 400
    code = "invalid_request"


class TemplateError(HearthError):
    """A template, environment or parameter problem, located by file, line and template path.

    `path` is a tuple of segments (`("resources", "web", "properties", "image")`); nested
    validation prepends its own segment with `within()` as the error travels outwards.
    """

    status = 400
    code = "template_invalid"

    def __init__(self, message: str, *, path: tuple | list = (), file: str | None = None,
                 line: int | None = None):
        self.reason = message
        self.path = tuple(str(p) for p in path)
        self.file = file
        self.line = line
        super().__init__(self._render())

    def _render(self) -> str:
        where = self.file or "template"
        if self.line is not None:
            where = f"{where}:{self.line}"
        if self.path:
            return f"{where}: {'.'.join(self.path)}: {self.reason}"
        return f"{where}: {self.reason}"

    def within(self, *segments, file: str | None = None, line: int | None = None) -> "TemplateError":
        """Return this error with `segments` prepended to its path (and file/line filled if unknown)."""
        return TemplateError(self.reason, path=tuple(segments) + self.path,
                             file=self.file or file,
                             line=self.line if self.line is not None else line)


class DependencyCycle(TemplateError):
    code = "dependency_cycle"

    def __init__(self, members: list[str], *, file: str | None = None):
        self.members = list(members)
        super().__init__("dependency cycle between resources: " + " -> ".join(
            self.members + self.members[:1]), path=("resources",), file=file)


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


# Heat's own error names, where an API answer must carry them (python-heatclient and Heat's
# tests match on `error.type`). Each keeps Heat's message; the status is Heat's for that name.

class ActionInProgress(Conflict):
    """Another operation holds the stack."""

    def __init__(self, stack_name: str, action: str):
        super().__init__(f"Stack {stack_name} already has an action ({action}) in progress.")


class NotSupported(InvalidRequest):
    """An operation the stack's state does not allow (Heat: `FEATURE is not supported.`)."""

    code = "not_supported"

    def __init__(self, feature: str):
        super().__init__(f"{feature} is not supported.")


class StackExists(Conflict):
    def __init__(self, stack_name: str):
        super().__init__(f"The Stack ({stack_name}) already exists.")


class EntityNotFound(NotFound):
    """Heat's `The ENTITY (NAME) could not be found.`"""

    def __init__(self, entity: str, name: str, more: str = ""):
        super().__init__(f"The {entity} ({name}) could not be found.{more}")


class ResourceNotFound(EntityNotFound):
    def __init__(self, resource: str, stack_name: str):
        NotFound.__init__(self, f"The Resource ({resource}) could not be found in Stack {stack_name}.")


class ResourceActionNotSupported(InvalidRequest):
    code = "not_supported"

    def __init__(self, action: str):
        super().__init__(f"{action} is not supported for resource.")


class HTTPBadRequest(InvalidRequest):
    """A request Heat's API layer refuses before the engine sees it."""


class HTTPNotFound(NotFound):
    """A thing Heat's API layer looks for itself and does not find (an event)."""
