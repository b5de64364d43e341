"""The error tree: every failure the engine reports is one of these; owns no state and touches
nothing.

The error tree: every failure the engine reports is one of these, with a message a person can act
on.

Owns no state and touches nothing. The HTTP status each answers with is in brackets
(tests/unit/engine/test_errors.py keeps this drawing equal to the classes below)::

    HearthError [400]
        InvalidRequest [400]
            NotSupported [400]
            StackValidationFailed [400]
            ResourceActionNotSupported [400]
            HTTPBadRequest [400]
        TemplateError [400]            file, line and path of the template
            DependencyCycle [400]
            LimitExceeded [400]
        Unauthorized [401]
        Forbidden [403]
        NotFound [404]
            EntityNotFound [404]
                ResourceNotFound [404]
            HTTPNotFound [404]
        Conflict [409]
            ActionInProgress [409]
            StackExists [409]
        PayloadTooLarge [413]
        TooManyRequests [429]
        InvalidTemplateAttribute [400]
        ResourceFailure [400]          a resource handler's failure, becomes the resource's reason
"""

from __future__ import annotations

import copy


class HearthError(Exception):
    """Base of every error Hearth reports to a user.

    `status` is the HTTP status the API answers with; `code` is a short stable word
    that clients can match on; the message is for people and never contains a secret.
    """

    status = 400
    code = "bad_request"
    # The error's name in the answer where Heat names it otherwise (StackValidationFailed).
    kind: str | None = None

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
    on it keep working; `status` overrides the HTTP status. `prefix` (or `heading`, the same
    without its ": ") is the words Heat puts before the path ("Property error: "): the message
    reads `file:line: prefix path: reason`, exactly Heat's message after the location, so the
    path must then be Heat's path.
    """

    status = 400
    code = "template_invalid"
    kind = "StackValidationFailed"

    def __init__(
        self,
        message: str,
        *,
        path: tuple | list = (),
        file: str | None = None,
        line: int | None = None,
        kind: str | None = None,
        status: int | None = None,
        prefix: str = "",
        heading: str | None = None,
        detail: str = "",
    ):
        self.reason = message
        # More for the API answer (what was counted, which setting): a status reason, which
        # carries Heat's words exactly, leaves it out.
        self.detail = detail
        # Heat's words before the path ("Property error: "), kept in the rendered message.
        self.prefix = f"{heading}: " if heading else prefix
        if kind is not None:
            self.kind = kind
        if status is not None:
            self.status = status
        self.path = tuple(str(p) for p in path)
        self.file = file
        self.line = line
        super().__init__(self._render())

    @property
    def error_type(self) -> str:
        return self.kind

    @property
    def heading(self) -> str | None:
        return self.prefix[:-2] if self.prefix.endswith(": ") else (self.prefix or None)

    def _render(self) -> str:
        where = self.file or "template"
        if self.line is not None:
            where = f"{where}:{self.line}"
        more = f" ({self.detail})" if self.detail else ""
        if self.path:
            return f"{where}: {self.prefix}{'.'.join(self.path)}: {self.reason}{more}"
        return f"{where}: {self.prefix}{self.reason}{more}"

    def heat_message(self, lead: tuple = ()) -> str:
        """The message in Heat's words alone, without where Hearth found it (a status reason
        carries Heat's text exactly); `lead` goes before the path, as Heat's stack reason puts
        the failing resource's name there."""
        segments = tuple(lead) + self.path
        if segments:
            return f"{self.prefix}{heat_path(segments)}: {self.reason}"
        return f"{self.prefix}{self.reason}"

    def within(self, *segments, file: str | None = None, line: int | None = None) -> TemplateError:
        """Return this error with `segments` prepended to its path (and file/line filled if unknown)."""
        return self.located(
            path=tuple(segments) + self.path, file=self.file or file, line=self.line if self.line is not None else line
        )

    def located(
        self,
        *,
        path: tuple | None = None,
        file: str | None = None,
        line: int | None = None,
        kind: str | None = None,
        heading: str | None = None,
    ) -> TemplateError:
        """A copy of this error (of the same class) with another path, file, line, kind or heading."""
        error = copy.copy(self)
        error.path = self.path if path is None else tuple(str(p) for p in path)
        error.file, error.line = file, line
        error.kind = kind or self.kind
        if heading and not self.prefix:
            error.prefix = f"{heading}: "
        error.message = error._render()
        error.args = (error.message,)
        return error


def heat_path(segments) -> str:
    """Segments joined as Heat prints a path: dots between names, a number as `[N]`
    (`resources.group.resources[1].resources.oops`)."""
    path = ""
    for segment in segments:
        segment = str(segment)
        if segment.isdigit():
            path += f"[{segment}]"
        else:
            path = f"{path}.{segment}" if path else segment
    return path


def error_kind(error: BaseException) -> str:
    """The error's name as an answer or a status reason gives it: Heat's where it differs."""
    return getattr(error, "kind", None) or type(error).__name__


class DependencyCycle(TemplateError):
    code = "dependency_cycle"

    def __init__(self, members: list[str], *, file: str | None = None):
        self.members = list(members)
        super().__init__(
            "Circular Dependency Found: " + " -> ".join(self.members + self.members[:1]),
            path=("resources",),
            file=file,
            kind="CircularDependencyException",
        )


class LimitExceeded(TemplateError):
    """A template asks for more than a limit allows (docs/operations.md, Limits): Heat's
    RequestLimitExceeded, whose message starts "Request limit exceeded: ".

    `setting` names the setting that sets the limit; where the message is Heat's, `detail`
    names it in an API answer.
    """

    code = "limit_exceeded"
    kind = "RequestLimitExceeded"

    def __init__(self, message: str, *, setting: str = "", **where):
        self.setting = setting
        super().__init__(f"Request limit exceeded: {message}", **where)


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


class InvalidTemplateAttribute(HearthError):
    """get_attr named an attribute the resource does not have (found only once it exists:
    a provider template's outputs). Raised with the attribute's name; the resolver, which
    knows the resource, words it as Heat does."""

    code = "invalid_attribute"

    @staticmethod
    def of(resource: str, attribute: str) -> InvalidTemplateAttribute:
        return InvalidTemplateAttribute(f"The Referenced Attribute ({resource} {attribute}) is incorrect.")


class ResourceFailure(HearthError):
    """A resource handler failed; the message becomes the resource's status reason.

    `kind` is the error name the reason starts with where Heat names one of its own
    (`ValueError: resources.NAME: ...`; "" for none); by default the class name. `nested_path` is
    the path inside the resource that failed (a nested stack's resource: `resources`, `oops`),
    which the reason puts after the resource's own (`resources.NAME.resources.oops`).
    """

    code = "resource_failed"

    def __init__(self, message: str, kind: str | None = None, nested_path: tuple[str, ...] = ()):
        super().__init__(message)
        self.kind = kind
        self.nested_path = tuple(nested_path)


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


class StackValidationFailed(InvalidRequest):
    """A stack Heat refuses as a whole rather than at a place in its template (a provider
    template that does not offer the interface of the type it is mapped over)."""

    code = "template_invalid"


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
