"""HearthClient: owns the HTTP calls to the Heat v1 API, over an injectable Transport (standard
library http.client, engine.cli.transport); reads the local admin-token file for a loopback server
only; every failure is a CliError."""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

from engine.cli.groups import CliError
from engine.cli.transport import Answer, ConnectFailed, TimedOut, TlsFailed, Transport, TransportError

USER_AGENT = "hearth-cli"


class ApiError(CliError):
    """The server answered with an error envelope; `status` is the HTTP status."""

    def __init__(self, status: int, message: str, error_type: str = "", code: str = ""):
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.code = code


class Unreachable(CliError):
    """Nothing answered at the server's URL (connection refused, unknown host)."""


def error_from_response(response: Answer) -> ApiError:
    """Read the JSON error envelope; a non-JSON body (a proxy's HTML page) still gives a message."""
    try:
        body = json.loads(response.body)
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        message = error.get("message") or body.get("explanation") or body.get("title") or f"HTTP {response.status}"
        return ApiError(response.status, str(message), str(error.get("type", "")), str(error.get("code", "")))
    text = (response.text or "").strip().splitlines()
    detail = f": {text[0][:200]}" if text else ""
    return ApiError(response.status, f"HTTP {response.status} {response.reason}{detail}")


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def local_data_dir() -> Path:
    """The data dir a `hearth server` on this machine uses by default ($HEARTH_DATA_DIR, else
    $XDG_STATE_HOME/hearth, else ~/.local/state/hearth)."""
    if os.environ.get("HEARTH_DATA_DIR"):
        return Path(os.environ["HEARTH_DATA_DIR"]).expanduser()
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "hearth"


def discover_token(url: str) -> str | None:
    """The token to send when none was given: $HEARTH_ADMIN_TOKEN, else the admin-token file a
    server on this machine wrote on its first start. Only for a server on this machine's
    loopback address: the local admin token is never sent elsewhere."""
    if (urlsplit(url).hostname or "") not in LOOPBACK:
        return None
    if os.environ.get("HEARTH_ADMIN_TOKEN"):
        return os.environ["HEARTH_ADMIN_TOKEN"]
    try:
        return (local_data_dir() / "admin-token").read_text().strip() or None
    except OSError:  # absent or not ours to read: go without, the server will say 401
        return None


def segment(value: str) -> str:
    """One URL path segment: a stack or resource name may hold any character."""
    return quote(str(value), safe="")


def query(params: dict | None) -> str:
    """`?k=v&k=w` as requests made it: a list is the key repeated, a None value is left out."""
    pairs = [(k, v) for k, v in (params or {}).items() if v is not None]
    return "?" + urlencode(pairs, doseq=True) if pairs else ""


class HearthClient:
    """Speaks `{url}/v1/{project}`; the caller owns `transport` and closes it."""

    def __init__(
        self, url: str, project: str, *, transport: Transport, token: str | None = None, timeout: float = 30.0
    ):
        self.url = url.rstrip("/")
        self.base = f"{self.url}/v1/{segment(project)}"
        self.transport = transport
        self.token = token
        self.timeout = timeout

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict | None = None,
        body: dict | None = None,
        hold: float = 0.0,
        base: str | None = None,
    ):
        """Send one request and return the decoded JSON (None for an empty answer).

        `path` is under the project's `/v1/{project}` unless `base` names another root (the
        admin API's, see `admin`).

        `hold` is how long the server may legitimately keep the request (long-poll); it is
        added to the read timeout so a held request is not mistaken for a dead server.
        """
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if self.token:
            headers["X-Auth-Token"] = self.token
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body, allow_nan=False).encode()
        try:
            response = self.transport.send(
                method,
                f"{base or self.base}/{path}{query(params)}",
                headers=headers,
                body=data,
                timeout=(self.timeout, self.timeout + hold),
            )
        except ConnectFailed:
            # A connect that timed out too: nothing is listening there either way.
            raise Unreachable(f"cannot reach Hearth at {self.url}: is 'hearth server' running?") from None
        except TimedOut:
            raise CliError(f"Hearth at {self.url} did not answer within {self.timeout + hold:g} s") from None
        except TlsFailed as exc:
            raise CliError(f"TLS with Hearth at {self.url} failed: {exc}") from None
        except TransportError as exc:
            raise CliError(f"request to Hearth at {self.url} failed: {exc}") from None
        if response.status >= 400:
            raise error_from_response(response)
        if response.status == 204 or not response.body:
            return None
        try:
            return json.loads(response.body)
        except ValueError:
            raise CliError(f"Hearth at {self.url} answered {method} {path} with a body that is not JSON") from None

    def fetch(self, method: str, path: str, key: str, **kwargs):
        """`request` and take `key` from the answer's JSON object."""
        answer = self.request(method, path, **kwargs)
        if not isinstance(answer, dict) or key not in answer:
            raise CliError(f"Hearth at {self.url} answered {method} {path} without '{key}'")
        return answer[key]

    def admin(self, method: str, path: str, **kwargs):
        """A request to the admin API (`/admin/v1/...`, cloud admins only)."""
        return self.request(method, path, base=f"{self.url}/admin/v1", **kwargs)

    # Stacks -------------------------------------------------------------------------------

    def create_stack(self, body: dict) -> dict:
        return self.fetch("POST", "stacks", "stack", body=body)

    def list_stacks(self, params: dict | None = None) -> list[dict]:
        return self.fetch("GET", "stacks", "stacks", params=params)

    def preview_create(self, body: dict) -> dict:
        return self.fetch("POST", "stacks/preview", "stack", body=body)

    def get_stack(self, name_or_id: str) -> dict:
        """GET /stacks/{name_or_id}; the server redirects (302) to /stacks/{name}/{id}."""
        return self.fetch("GET", f"stacks/{segment(name_or_id)}", "stack")

    def delete_stack(self, stack: dict) -> None:
        self.request("DELETE", stack_path(stack))

    # Everything below a stack is addressed by the resolved /stacks/{name}/{id} ---------------

    def update_stack(self, stack: dict, body: dict, *, patch: bool = False) -> None:
        """PUT replaces the template and parameters; PATCH (`--existing`) keeps what is not sent."""
        self.request("PATCH" if patch else "PUT", stack_path(stack), body=body)

    def preview_update(self, stack: dict, body: dict, *, patch: bool = False) -> dict:
        return self.fetch("PATCH" if patch else "PUT", f"{stack_path(stack)}/preview", "resource_changes", body=body)

    def stack_action(self, stack: dict, action: str) -> None:
        """suspend, resume, check, cancel_update or cancel_without_rollback."""
        self.request("POST", f"{stack_path(stack)}/actions", body={action: None})

    def abandon_stack(self, stack: dict) -> dict:
        return self.request("DELETE", f"{stack_path(stack)}/abandon")

    def stack_part(self, stack: dict, part: str) -> dict:
        """The stack's `template`, `environment` or `files`, as stored."""
        return self.request("GET", f"{stack_path(stack)}/{part}")

    def list_resources(self, stack: dict, *, nested_depth: int = 0, filters: dict | None = None) -> list[dict]:
        params = dict(filters or {})
        if nested_depth:
            params["nested_depth"] = nested_depth
        return self.fetch("GET", f"{stack_path(stack)}/resources", "resources", params=params)

    def mark_unhealthy(self, stack: dict, resource: str, mark: bool, reason: str) -> None:
        self.request(
            "PATCH",
            f"{stack_path(stack)}/resources/{segment(resource)}",
            body={"mark_unhealthy": mark, "resource_status_reason": reason},
        )

    def signal_resource(self, stack: dict, resource: str, data=None) -> None:
        self.request("POST", f"{stack_path(stack)}/resources/{segment(resource)}/signal", body=data)

    def get_resource(self, stack: dict, resource: str) -> dict:
        return self.fetch("GET", f"{stack_path(stack)}/resources/{segment(resource)}", "resource")

    def list_events(
        self, stack: dict, *, marker: str | None = None, limit: int | None = None, wait: float | None = None
    ) -> list[dict]:
        params: dict = {"sort_dir": "asc"}
        if marker:
            params["marker"] = marker
        if limit:
            params["limit"] = limit
        if wait:
            params["wait"] = int(wait)
        return self.fetch("GET", f"{stack_path(stack)}/events", "events", params=params, hold=float(wait or 0))

    def event_stream(self, *, since: int = 0, limit: int | None = None, wait: float = 0) -> dict:
        """The project's event stream after `since`: {"events", "next", "latest"} (docs/events.md)."""
        params: dict = {"since": since}
        if limit:
            params["limit"] = limit
        if wait:
            params["wait"] = int(wait)
        answer = self.request("GET", "events", params=params, hold=float(wait or 0))
        if not isinstance(answer, dict) or not {"events", "next", "latest"} <= set(answer):
            raise CliError(f"Hearth at {self.url} answered GET events without its events, next and latest")
        return answer

    def list_outputs(self, stack: dict) -> list[dict]:
        return self.fetch("GET", f"{stack_path(stack)}/outputs", "outputs")

    def get_output(self, stack: dict, key: str) -> dict:
        return self.fetch("GET", f"{stack_path(stack)}/outputs/{segment(key)}", "output")

    # What the installation offers ----------------------------------------------------------

    def list_resource_types(self, params: dict | None = None) -> list:
        return self.fetch("GET", "resource_types", "resource_types", params=params)

    def get_resource_type(self, type_name: str, *, with_description: bool = False) -> dict:
        return self.request(
            "GET",
            f"resource_types/{segment(type_name)}",
            params={"with_description": "true"} if with_description else None,
        )

    def resource_type_template(self, type_name: str, template_type: str) -> dict:
        return self.request(
            "GET", f"resource_types/{segment(type_name)}/template", params={"template_type": template_type}
        )

    def template_versions(self) -> list[dict]:
        return self.fetch("GET", "template_versions", "template_versions")

    def template_functions(self, version: str, *, with_condition: bool = False) -> list[dict]:
        return self.fetch(
            "GET",
            f"template_versions/{segment(version)}/functions",
            "template_functions",
            params={"with_condition_func": "true"} if with_condition else None,
        )

    def validate(self, body: dict, *, show_nested: bool = False) -> dict:
        return self.request("POST", "validate", body=body, params={"show_nested": "true"} if show_nested else None)


def stack_path(stack: dict) -> str:
    return f"stacks/{segment(stack['stack_name'])}/{segment(stack['id'])}"
