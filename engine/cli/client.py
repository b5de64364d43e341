"""HearthClient: the Heat v1 API over an injectable requests.Session; every failure is a CliError."""
from __future__ import annotations

from urllib.parse import quote

import requests

USER_AGENT = "hearth-cli"


class CliError(Exception):
    """A failure the command line shows as `ERROR: <message>` and exits 1 on."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ApiError(CliError):
    """The server answered with an error envelope; `status` is the HTTP status."""

    def __init__(self, status: int, message: str, error_type: str = "", code: str = ""):
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.code = code


class Unreachable(CliError):
    """Nothing answered at the server's URL (connection refused, unknown host)."""


def error_from_response(response: requests.Response) -> ApiError:
    """Read the JSON error envelope; a non-JSON body (a proxy's HTML page) still gives a message."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        message = (error.get("message") or body.get("explanation") or body.get("title")
                   or f"HTTP {response.status_code}")
        return ApiError(response.status_code, str(message), str(error.get("type", "")),
                        str(error.get("code", "")))
    text = (response.text or "").strip().splitlines()
    detail = f": {text[0][:200]}" if text else ""
    return ApiError(response.status_code, f"HTTP {response.status_code} {response.reason}{detail}")


def segment(value: str) -> str:
    """One URL path segment: a stack or resource name may hold any character."""
    return quote(str(value), safe="")


class HearthClient:
    """Speaks `{url}/v1/{project}`; the caller owns `session` and closes it."""

    def __init__(self, url: str, project: str, *, session: requests.Session,
                 token: str | None = None, timeout: float = 30.0):
        self.url = url.rstrip("/")
        self.base = f"{self.url}/v1/{segment(project)}"
        self.session = session
        self.token = token
        self.timeout = timeout

    def request(self, method: str, path: str, *, params: dict | None = None,
                body: dict | None = None, hold: float = 0.0):
        """Send one request and return the decoded JSON (None for an empty answer).

        `hold` is how long the server may legitimately keep the request (long-poll); it is
        added to the read timeout so a held request is not mistaken for a dead server.
        """
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if self.token:
            headers["X-Auth-Token"] = self.token
        try:
            response = self.session.request(
                method, f"{self.base}/{path}", params=params, json=body, headers=headers,
                timeout=(self.timeout, self.timeout + hold))
        except requests.exceptions.ConnectionError:
            # ConnectTimeout is a ConnectionError too: nothing is listening there either way.
            raise Unreachable(f"cannot reach Hearth at {self.url}: "
                              "is 'hearth server' running?") from None
        except requests.exceptions.Timeout:
            raise CliError(f"Hearth at {self.url} did not answer within "
                           f"{self.timeout + hold:g} s") from None
        except requests.exceptions.RequestException as exc:
            raise CliError(f"request to Hearth at {self.url} failed: {exc}") from None
        if response.status_code >= 400:
            raise error_from_response(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise CliError(f"Hearth at {self.url} answered {method} {path} with a body "
                           "that is not JSON") from None

    def fetch(self, method: str, path: str, key: str, **kwargs):
        """`request` and take `key` from the answer's JSON object."""
        answer = self.request(method, path, **kwargs)
        if not isinstance(answer, dict) or key not in answer:
            raise CliError(f"Hearth at {self.url} answered {method} {path} without '{key}'")
        return answer[key]

    # Stacks -------------------------------------------------------------------------------

    def create_stack(self, body: dict) -> dict:
        return self.fetch("POST", "stacks", "stack", body=body)

    def list_stacks(self) -> list[dict]:
        return self.fetch("GET", "stacks", "stacks")

    def get_stack(self, name_or_id: str) -> dict:
        """GET /stacks/{name_or_id}; the server redirects (302) to /stacks/{name}/{id}."""
        return self.fetch("GET", f"stacks/{segment(name_or_id)}", "stack")

    def delete_stack(self, stack: dict) -> None:
        self.request("DELETE", stack_path(stack))

    # Everything below a stack is addressed by the resolved /stacks/{name}/{id} ---------------

    def list_resources(self, stack: dict) -> list[dict]:
        return self.fetch("GET", f"{stack_path(stack)}/resources", "resources")

    def get_resource(self, stack: dict, resource: str) -> dict:
        return self.fetch("GET", f"{stack_path(stack)}/resources/{segment(resource)}", "resource")

    def list_events(self, stack: dict, *, marker: str | None = None, limit: int | None = None,
                    wait: float | None = None) -> list[dict]:
        params: dict = {"sort_dir": "asc"}
        if marker:
            params["marker"] = marker
        if limit:
            params["limit"] = limit
        if wait:
            params["wait"] = int(wait)
        return self.fetch("GET", f"{stack_path(stack)}/events", "events", params=params,
                          hold=float(wait or 0))

    def list_outputs(self, stack: dict) -> list[dict]:
        return self.fetch("GET", f"{stack_path(stack)}/outputs", "outputs")

    def get_output(self, stack: dict, key: str) -> dict:
        return self.fetch("GET", f"{stack_path(stack)}/outputs/{segment(key)}", "output")


def stack_path(stack: dict) -> str:
    return f"stacks/{segment(stack['stack_name'])}/{segment(stack['id'])}"
