"""Differential cases against any Heat-shaped endpoint: load a case, run it, normalise what came back.

One driver serves both sides. `record.py` runs the cases against real Heat and commits what it
answered; `test_differential.py` runs the same cases against a Hearth server and compares.

A case is a YAML file under `cases/`:

    description: what the case shows
    files: {name: text}            # the files map sent with every template request
    mask: [outputs.pw, resources.r.attributes.value]   # values that are random on both sides
    events: true                   # record each stack operation's events (default true)
    nested_depth: 0                # resources listed with ?nested_depth (default 0)
    serve_files: true              # also serve `files` over HTTP at @files_url@ (a TemplateURL
                                   # Heat fetches itself); the token is replaced everywhere
    identity: true                 # record on a reference with a stand-in Keystone (stack users,
                                   # EC2 key pairs: scaling policies); tests/heat_reference/keystone_stub.py
    member_names: true             # a group's random 12-character member names become
                                   # <member:n> (numbered as ids are), so removals can be followed
    redact: [REGEX, ...]           # text matching these becomes <redacted> (signatures, keys)
    event_sequence: true           # also record each operation's events in order, as batches:
                                   # split where a stack's own event says "Stack ... started" or
                                   # "completed", each batch sorted (members within one batch
                                   # run in parallel); a scaling group's members are all
                                   # `<member>` there (which members a batch takes depends on
                                   # their creation second). With `events: false`, only this
    resource_depth: 0              # nested_depth of the resource list (default nested_depth)
    steps:
      - create: {template: ..., environment: ..., environment_files: [...], parameters: {...},
                 disable_rollback: true, timeout_mins: 5, tags: [..], stack: NAME,
                 wait_for: TEXT}      # settle once an event's reason contains TEXT (a hook)
      - update: {template: ..., existing: true, ...}       # PATCH when `existing`
        # a stack operation (create, update, adopt, actions) also takes `wait: false` (do not
        # wait for it to end, only until the stack is IN_PROGRESS and each resource named in
        # `in_progress: [NAME]` is too: the next step acts on it meanwhile, and that step's
        # events include this one's) and `until: [ROLLBACK_COMPLETE, ...]` (wait for one of
        # these statuses: a failed create rolls back after a moment at CREATE_FAILED)
      - preview: {...}  /  preview_update: {...}  /  validate: {...}
      - suspend / resume / check / cancel / cancel_no_rollback / abandon / delete: {}
      - adopt: {template: ...}                            # the data the last abandon answered
        # (`data_from: resources.NAME`: the part of it at that dotted path, a nested stack's;
        # `data: {...}`: this adopt data instead)
      - signal: {resource: NAME, data: {...}, wait_for: TEXT}
        # Heat handles a signal after answering it (a policy's scaling runs in the engine):
        # with `wait_for`, settle once a new event's "STATUS: reason" contains TEXT and the
        # stack is not IN_PROGRESS (`SIGNAL_COMPLETE`); without, observe at once (a signal
        # Heat refuses leaves no event to wait for); `observe: false`: the answer only (the
        # next step acts while this signal is being handled)
      - settle: {until: [...]}                            # wait for an operation a step did not
        # wait for (`wait: false`) to end, then observe it (its events included)
      - mark_unhealthy: {resource: NAME, reason: ..., healthy: false}
      - request: {method: GET, path: "{stack}/template", params: {...}, body: ...,
                  save: {key: dotted.path}, observe: true, until: {dotted.path: VALUE}}
        # `until`: repeat the request until the answer has VALUE at that path (a group's
        # metadata saying scaling_in_progress), then record it
        # `{stack}` is stacks/NAME/ID of the current stack, `{stack_id}` its id, `{stack:NAME}`
        # another stack of the case, `{key}` a value saved earlier; path, params and body expand
      - show: {resources: [NAME, ...], wait_for: TEXT}    # observe again without acting, with
        # every event since the first step (`wait_for`: once one's "STATUS: reason" has TEXT)

Every step yields one observation: the HTTP answer of the request it made (status, and for
an error the error's type and message) and, for a stack operation, the stack once it settled:
`stack show`, each resource (with attributes), the outputs and the operation's events.
"""

from __future__ import annotations

import copy
import functools
import http.server
import json
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

HERE = Path(__file__).resolve().parent
CASES = HERE / "cases"
EXPECTED = HERE / "expected"
HEAT_VERSION = "openstack-heat 27.0.1"

STACK_OPS = {
    "create",
    "update",
    "suspend",
    "resume",
    "check",
    "cancel",
    "cancel_no_rollback",
    "delete",
    "adopt",
    "signal",
    "mark_unhealthy",
}
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?")
_ENDPOINT = re.compile(r"https?://127\.0\.0\.1:\d+")
# Heat's physical names end in a 12-character short id (base32 of random bits, lowercase).
_SHORT_ID = re.compile(r"-[a-z0-9]{12}(?=$|-|/|\]|\")")
# A scaling group's members are named by a bare short id.
_MEMBER_NAME = re.compile(r"[a-z0-9]{12}")
_TIME_KEYS = {
    "creation_time",
    "updated_time",
    "deletion_time",
    "event_time",
    "created_time",
    "updated_at",
    "created_at",
}


@dataclass
class Case:
    name: str  # relative path under cases/ without .yaml: "functions/repeat"
    spec: dict[str, Any]

    @property
    def stack_name(self) -> str:
        return "d-" + re.sub(r"[^A-Za-z0-9]+", "-", self.name).strip("-")

    @property
    def expected_path(self) -> Path:
        return EXPECTED / f"{self.name}.json"


def load_cases(pattern: str | None = None) -> list[Case]:
    cases = []
    for path in sorted(CASES.rglob("*.yaml")):
        name = str(path.relative_to(CASES))[: -len(".yaml")]
        if pattern and not re.search(pattern, name):
            continue
        spec = yaml.safe_load(path.read_text())
        if not isinstance(spec, dict) or "steps" not in spec:
            raise ValueError(f"{path}: a case needs a `steps` list")
        cases.append(Case(name, spec))
    return cases


@dataclass
class Endpoint:
    """Where to send a case: the /v1/{project} base and the token header."""

    base: str
    headers: dict[str, str]
    settle_timeout: float = 300.0
    poll: float = 0.2


@dataclass
class Run:
    case: Case
    endpoint: Endpoint
    http: requests.Session = field(default_factory=requests.Session)
    stacks: dict[str, str] = field(default_factory=dict)  # name -> id
    saved: dict[str, Any] = field(default_factory=dict)
    abandoned: Any = None
    current: str | None = None
    unwaited: tuple | None = None  # stack_brief before an operation a step did not wait for
    member_names: set[str] = field(default_factory=set)  # random names of nested members seen

    # -- HTTP ---------------------------------------------------------------------------------
    def call(self, method: str, path: str, body: Any = None, params: dict | None = None) -> requests.Response:
        # A path starting with "/" is from the server's root (the version document), else
        # from the /v1/{project} base.
        root = self.endpoint.base.split("/v1/", 1)[0]
        url = f"{root}{path}" if path.startswith("/") else f"{self.endpoint.base}/{path}"
        for _ in range(3):
            try:
                return self.http.request(
                    method,
                    url,
                    json=body,
                    params=params,
                    headers=self.endpoint.headers,
                    timeout=120,
                    allow_redirects=False,
                )
            except requests.ConnectionError:
                time.sleep(1)
        return self.http.request(
            method, url, json=body, params=params, headers=self.endpoint.headers, timeout=120, allow_redirects=False
        )

    def clean_up(self) -> None:
        """Delete what the case made and wait until it is gone, so the case can run again."""
        for name, stack_id in list(self.stacks.items()):
            self.call("DELETE", f"stacks/{name}/{stack_id}")
        deadline = time.monotonic() + self.endpoint.settle_timeout
        for name, stack_id in list(self.stacks.items()):
            while time.monotonic() < deadline:
                shown = self.call("GET", f"stacks/{name}/{stack_id}")
                if shown.status_code == 404:
                    break
                # Anything but a stack is asked again: while deleting a group's stack, Heat
                # sometimes answers a moment's 500 DBReferenceError.
                status = (shown.json().get("stack") or {}).get("stack_status") if shown.status_code == 200 else None
                if status in ("DELETE_COMPLETE", "DELETE_FAILED"):
                    break
                time.sleep(self.endpoint.poll)

    def stack_path(self, name: str | None = None) -> str:
        name = name or self.current
        return f"stacks/{name}/{self.stacks[name]}"

    # -- steps --------------------------------------------------------------------------------
    files_url: str = ""

    def run(self) -> list[dict[str, Any]]:
        if not self.case.spec.get("serve_files"):
            return self._steps()
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_FileHandler, self))
        self.files_url = f"http://127.0.0.1:{server.server_address[1]}"
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            return self._steps()
        finally:
            server.shutdown()
            server.server_close()

    def served_files(self) -> dict[str, str]:
        return {self.files_token(k): self.files_token(v) for k, v in (self.case.spec.get("files") or {}).items()}

    def files_token(self, text: str) -> str:
        return text.replace("@files_url@", self.files_url) if self.files_url else text

    def _steps(self) -> list[dict[str, Any]]:
        observations = []
        for step in self.case.spec["steps"]:
            ((op, args),) = step.items() if isinstance(step, dict) else ((step, {}),)
            args = dict(args or {})
            observation = {"step": op}
            needs_stack = op not in ("create", "adopt", "preview", "validate", "request") or any(
                token in str(args.get("path", "")) for token in ("{stack}", "{stack_id}")
            )
            if self.current is None and needs_stack:
                observation["skipped"] = "no stack: the create was refused"
            else:
                observation.update(getattr(self, f"op_{op}")(args))
            observations.append(observation)
        return observations

    def _template_body(self, args: dict) -> dict:
        body: dict[str, Any] = {}
        files = dict(self.case.spec.get("files") or {})
        files.update(args.get("files") or {})
        if "template" in args:
            template = args["template"]
            body["template"] = template if isinstance(template, str) else json.dumps(template)
        if "template_file" in args:
            body["template"] = files[args["template_file"]]
        if files:
            body["files"] = files
        if self.files_url:
            body = {
                k: (_expand_tree(v, self.files_token) if k in ("template", "files") else v) for k, v in body.items()
            }
            body["files"] = {self.files_token(k): v for k, v in body.get("files", {}).items()}
        for key in (
            "environment",
            "environment_files",
            "parameters",
            "disable_rollback",
            "timeout_mins",
            "tags",
            "clear_parameters",
            "converge",
        ):
            if key in args:
                body[key] = args[key]
        if isinstance(body.get("environment"), dict):
            body["environment"] = body["environment"]
        return body

    def _answer(self, response: requests.Response) -> dict[str, Any]:
        answer: dict[str, Any] = {"status": response.status_code}
        if response.status_code >= 400:
            try:
                error = response.json().get("error") or {}
            except ValueError:
                error = {}
            answer["error"] = {"type": error.get("type"), "message": error.get("message")}
        return answer

    def op_create(self, args: dict) -> dict:
        until, wait = args.pop("until", None), self._wait_arg(args)
        name = args.get("stack") or self.case.stack_name
        body = {"stack_name": name, **self._template_body(args)}
        body.setdefault("disable_rollback", True)
        response = self.call("POST", "stacks", body)
        answer = self._answer(response)
        if response.status_code != 201:
            return {"answer": answer}
        self.stacks[name] = response.json()["stack"]["id"]
        self.current = name
        return {
            "answer": answer,
            **self.settle_and_observe(None, until=until, wait=wait, wait_for=args.get("wait_for")),
        }

    def op_adopt(self, args: dict) -> dict:
        until, wait = args.pop("until", None), self._wait_arg(args)
        name = args.get("stack") or self.case.stack_name + "-adopted"
        data = args["data"] if "data" in args else self.abandoned
        for key in args["data_from"].split(".") if "data_from" in args else ():
            data = data[key]
        # As the clients send it: the text of the file abandon wrote.
        body = {"stack_name": name, "adopt_stack_data": json.dumps(data), **self._template_body(args)}
        body.setdefault("disable_rollback", True)
        response = self.call("POST", "stacks", body)
        answer = self._answer(response)
        if response.status_code != 201:
            return {"answer": answer}
        self.stacks[name] = response.json()["stack"]["id"]
        self.current = name
        return {"answer": answer, **self.settle_and_observe(None, until=until, wait=wait)}

    def op_update(self, args: dict) -> dict:
        until, wait = args.pop("until", None), self._wait_arg(args)
        before = self.stack_brief()
        method = "PATCH" if args.pop("existing", False) else "PUT"
        response = self.call(method, self.stack_path(args.get("stack")), self._template_body(args))
        answer = self._answer(response)
        if response.status_code >= 400:
            return {"answer": answer}
        return {
            "answer": answer,
            **self.settle_and_observe(before, until=until, wait=wait, wait_for=args.get("wait_for")),
        }

    def _action(self, action: dict, args: dict) -> dict:
        until, wait = args.pop("until", None), self._wait_arg(args)
        before = self.stack_brief()
        response = self.call("POST", f"{self.stack_path()}/actions", action)
        answer = self._answer(response)
        if response.status_code >= 400:
            return {"answer": answer}
        return {"answer": answer, **self.settle_and_observe(before, until=until, wait=wait)}

    def op_suspend(self, args):
        return self._action({"suspend": None}, args)

    def op_resume(self, args):
        return self._action({"resume": None}, args)

    def op_check(self, args):
        return self._action({"check": None}, args)

    def op_cancel(self, args):
        return self._action({"cancel_update": None}, args)

    def op_cancel_no_rollback(self, args):
        return self._action({"cancel_without_rollback": None}, args)

    def op_signal(self, args: dict) -> dict:
        before = self.stack_brief()
        response = self.call("POST", f"{self.stack_path()}/resources/{args['resource']}/signal", args.get("data"))
        answer = self._answer(response)
        if response.status_code >= 400:
            return {"answer": answer}
        if args.get("wait_for"):
            self._until_event(args["wait_for"], before[2])
        if args.get("observe", True) is False:
            return {"answer": answer}
        return {"answer": answer, **self.settle_and_observe(before, require_change=False)}

    def op_settle(self, args: dict) -> dict:
        return self.settle_and_observe(None, require_change=False, until=args.get("until"))

    def _until_event(self, text: str, skip: int) -> None:
        """Poll until an event after the first `skip` reads "STATUS: reason" containing `text`."""
        deadline = time.monotonic() + self.endpoint.settle_timeout
        while time.monotonic() < deadline:
            events = self.events(self.event_params())[skip:]
            if any(text in f"{e['resource_status']}: {e.get('resource_status_reason')}" for e in events):
                return
            time.sleep(self.endpoint.poll)

    def op_mark_unhealthy(self, args: dict) -> dict:
        body = {"mark_unhealthy": not args.get("healthy", False), "resource_status_reason": args.get("reason", "")}
        response = self.call("PATCH", f"{self.stack_path()}/resources/{args['resource']}", body)
        return {"answer": self._answer(response), **self.observe()}

    def op_delete(self, args: dict) -> dict:
        name = args.get("stack") or self.current
        response = self.call("DELETE", self.stack_path(name))
        answer = self._answer(response)
        if response.status_code >= 400:
            return {"answer": answer}
        deadline = time.monotonic() + self.endpoint.settle_timeout
        while True:
            shown = self.call("GET", self.stack_path(name))
            if shown.status_code == 404:
                return {"answer": answer, "after": {"status": 404}}
            stack = shown.json()["stack"]
            if not stack["stack_status"].endswith("IN_PROGRESS") or time.monotonic() > deadline:
                return {
                    "answer": answer,
                    "after": {
                        "stack_status": stack["stack_status"],
                        "stack_status_reason": stack["stack_status_reason"],
                    },
                }
            time.sleep(self.endpoint.poll)

    def op_abandon(self, args: dict) -> dict:
        response = self.call("DELETE", f"{self.stack_path()}/abandon")
        answer = self._answer(response)
        if response.status_code == 200:
            self.abandoned = response.json()
            answer["body"] = self.abandoned
        return {"answer": answer}

    def op_preview(self, args: dict) -> dict:
        body = {"stack_name": args.get("stack") or self.case.stack_name, **self._template_body(args)}
        response = self.call("POST", "stacks/preview", body)
        answer = self._answer(response)
        if response.status_code == 200:
            answer["body"] = _preview_view(response.json())
        return {"answer": answer}

    def op_preview_update(self, args: dict) -> dict:
        method = "PATCH" if args.pop("existing", False) else "PUT"
        params = {"show_nested": "true"} if args.pop("show_nested", False) else None
        response = self.call(method, f"{self.stack_path()}/preview", self._template_body(args), params)
        answer = self._answer(response)
        if response.status_code == 200:
            changes = response.json().get("resource_changes", {})
            answer["body"] = {
                kind: sorted((_change_view(r) for r in items), key=lambda r: json.dumps(r, sort_keys=True))
                for kind, items in sorted(changes.items())
            }
        return {"answer": answer}

    def op_validate(self, args: dict) -> dict:
        params = {"show_nested": "true"} if args.pop("show_nested", False) else None
        response = self.call("POST", "validate", self._template_body(args), params)
        answer = self._answer(response)
        if response.status_code == 200:
            answer["body"] = response.json()
        return {"answer": answer}

    def op_request(self, args: dict) -> dict:
        path = self.expand(args["path"])
        body = _expand_tree(args.get("body"), self.expand)
        params = _expand_tree(args.get("params"), self.expand)
        response = self.call(args.get("method", "GET"), path, body, params)
        deadline = time.monotonic() + self.endpoint.settle_timeout
        while args.get("until") and time.monotonic() < deadline and not self._answers(response, args["until"]):
            time.sleep(self.endpoint.poll)
            response = self.call(args.get("method", "GET"), path, body, params)
        answer = self._answer(response)
        if response.status_code < 400 and response.content:
            try:
                payload = response.json()
            except ValueError:
                payload = response.text
            if isinstance(payload, dict) and isinstance(payload.get("outputs"), list):
                # Heat lists a stack's outputs in no defined order either (not the template's).
                payload["outputs"] = sorted(payload["outputs"], key=lambda o: str(o.get("output_key")))
            if isinstance(payload, dict) and isinstance(payload.get("resources"), list):
                # Heat lists a stack's resources in no defined order.
                payload["resources"] = sorted(
                    payload["resources"], key=lambda r: (_stack_of(r) or "", r.get("resource_name", ""))
                )
            if isinstance(payload, dict) and isinstance(payload.get("software_deployments"), list):
                # Deployments of parallel resources are listed in the order they happened to be made.
                payload["software_deployments"] = sorted(
                    payload["software_deployments"], key=lambda d: _UUID.sub("", json.dumps(d, sort_keys=True))
                )
            if isinstance(payload, dict) and isinstance(payload.get("resource_types"), list):
                # Heat lists types in its registry's order, which means nothing to a client.
                payload["resource_types"] = sorted(payload["resource_types"], key=lambda t: json.dumps(t))
            answer["body"] = payload
            for key, dotted in (args.get("save") or {}).items():
                self.saved[key] = _dig(payload, dotted)
        if args.get("observe"):
            return {"answer": answer, **self.observe()}
        return {"answer": answer}

    @staticmethod
    def _answers(response: requests.Response, wanted: dict) -> bool:
        try:
            payload = response.json()
            return all(_dig(payload, dotted) == value for dotted, value in wanted.items())
        except (ValueError, KeyError, IndexError, TypeError):
            return False

    def op_show(self, args: dict) -> dict:
        if args.get("wait_for"):
            self._until_event(args["wait_for"], 0)
        return self.observe()

    def expand(self, text: str) -> str:
        def sub(match):
            key = match.group(1)
            if key == "stack":
                return self.stack_path()
            if key == "stack_id":
                return self.stacks[self.current]
            if key.startswith("stack:"):
                return self.stack_path(key[len("stack:") :])
            return str(self.saved[key])

        return re.sub(r"\{([^{}]+)\}", sub, text)

    # -- observing ----------------------------------------------------------------------------
    def stack_brief(self) -> tuple:
        shown = self.call("GET", self.stack_path()).json()["stack"]
        return shown["stack_status"], shown.get("updated_time"), len(self.events(self.event_params()))

    @staticmethod
    def _wait_arg(args: dict) -> Any:
        wait = args.pop("wait", True)
        names = args.pop("in_progress", [])
        return True if wait else list(names)

    def settle_and_observe(
        self,
        before: tuple | None,
        require_change: bool = True,
        until: list[str] | None = None,
        wait: Any = True,
        wait_for: str | None = None,
    ) -> dict:
        deadline = time.monotonic() + self.endpoint.settle_timeout
        if wait is not True:
            self.unwaited = self.unwaited or before or (None, None, 0)
            self._until_in_progress(wait, deadline)
            return {}
        if self.unwaited is not None:
            before, self.unwaited = self.unwaited, None
        while True:
            shown = self.call("GET", self.stack_path()).json()["stack"]
            settled = not shown["stack_status"].endswith("IN_PROGRESS")
            if wait_for and not settled and not until:
                # Paused on a hook: settled once the event saying so is there.
                settled = any(
                    wait_for in (e.get("resource_status_reason") or "")
                    for e in self.events(self.event_params())[before[2] if before else 0 :]
                )
            if until:
                settled = shown["stack_status"] in until
            elif settled and before is not None and require_change:
                settled = (
                    shown["stack_status"],
                    shown.get("updated_time"),
                    len(self.events(self.event_params())),
                ) != before
            if settled or time.monotonic() > deadline:
                break
            time.sleep(self.endpoint.poll)
        return self.observe(skip_events=before[2] if before else 0)

    def _until_in_progress(self, resources: list[str], deadline: float) -> None:
        while time.monotonic() < deadline:
            shown = self.call("GET", self.stack_path()).json()["stack"]
            busy = shown["stack_status"].endswith("IN_PROGRESS")
            for name in resources if busy else ():
                detail = self.call("GET", f"{self.stack_path()}/resources/{name}")
                busy = detail.status_code == 200 and detail.json()["resource"]["resource_status"].endswith(
                    "IN_PROGRESS"
                )
                if not busy:
                    break
            if busy:
                return
            time.sleep(self.endpoint.poll)

    def event_params(self) -> dict | None:
        depth = self.case.spec.get("nested_depth")
        return {"nested_depth": depth} if depth else None

    def events(self, params: dict | None = None) -> list[dict]:
        """The stack's events, oldest first (with `nested_depth`, its nested stacks' too)."""
        response = self.call("GET", f"{self.stack_path()}/events", params={"sort_dir": "asc", **(params or {})})
        return response.json().get("events", []) if response.status_code == 200 else []

    def observe(self, skip_events: int = 0) -> dict:
        spec = self.case.spec
        shown = self.call("GET", self.stack_path())
        if shown.status_code != 200:
            return {"stack": self._answer(shown)}
        stack = shown.json()["stack"]
        observed: dict[str, Any] = {"stack": _stack_view(stack)}
        depth = spec.get("resource_depth", spec.get("nested_depth"))
        params = {"nested_depth": depth} if depth else None
        listed = self.call("GET", f"{self.stack_path()}/resources", params=params)
        resources = {}
        top = self.stacks[self.current]
        if listed.status_code == 200:
            items = listed.json()["resources"]
            paths = _nested_paths(items, top)
            for item in items:
                key = paths(_link_id(item, "stack"), item["resource_name"])
                view = _resource_view(item)
                if key == item["resource_name"]:
                    detail = self.call("GET", f"{self.stack_path()}/resources/{item['resource_name']}")
                    if detail.status_code == 200:
                        view["attributes"] = detail.json()["resource"].get("attributes")
                resources[key] = view
        else:
            items, paths = [], _nested_paths([], top)
        observed["resources"] = dict(sorted(resources.items())) if listed.status_code == 200 else self._answer(listed)
        if spec.get("events", True) or spec.get("event_sequence"):
            grouped: dict[str, list[str]] = {}
            batches: list[list[list[str]]] = [[]]
            for event in self.events(self.event_params())[skip_events:]:
                key = paths(_link_id(event, "stack"), event["resource_name"])
                text = f"{event['resource_status']}: {event.get('resource_status_reason')}"
                grouped.setdefault(key, []).append(text)
                stack_event = (event.get("resource_status_reason") or "").startswith("Stack ")
                if stack_event and batches[-1]:
                    batches.append([])
                parts = key.split("/")
                if spec.get("member_names") and len(parts) > 1 and _MEMBER_NAME.fullmatch(parts[-1]):
                    self.member_names.add(parts[-1])
                    parts[-1] = "<member>"
                batches[-1].append(["/".join(parts), text])
                if stack_event:
                    batches.append([])
            if spec.get("events", True):
                observed["events"] = dict(sorted(grouped.items()))
            if spec.get("event_sequence"):
                observed["event_sequence"] = [sorted(b) for b in batches if b]
        for key in resources if spec.get("member_names") else ():
            parts = key.split("/")
            if len(parts) > 1 and _MEMBER_NAME.fullmatch(parts[-1]):
                self.member_names.add(parts[-1])
        return observed


class _FileHandler(http.server.BaseHTTPRequestHandler):
    """Serves a case's `files` by URL, for the TemplateURLs Heat fetches itself."""

    def __init__(self, run: Run, *args, **kwargs):
        self.run = run
        super().__init__(*args, **kwargs)

    def do_GET(self):  # the http.server hook's name
        text = self.run.served_files().get(self.run.files_url + self.path)
        self.send_response(200 if text is not None else 404)
        self.end_headers()
        self.wfile.write((text or "").encode())

    def log_message(self, *args):
        pass


def _stack_of(item: dict) -> str | None:
    """The name of the stack a listed resource belongs to, read from its `stack` link."""
    for link in item.get("links") or []:
        if link.get("rel") == "stack":
            return link.get("href", "").rstrip("/").split("/")[-2]
    return None


def _link_id(item: dict, rel: str) -> str | None:
    """The id a link of `item` ends with (the stack it is in, the nested stack it owns)."""
    for link in item.get("links") or []:
        if link.get("rel") == rel:
            return link.get("href", "").rstrip("/").rsplit("/", 1)[-1]
    return None


def _nested_paths(items: list[dict], top: str):
    """A function naming a resource or event by its path from the top stack: `name` for the
    top stack's, `owner/name` for a nested stack's (`group/0/v` two levels down). Nested
    stacks are known by the `nested` links of the resources that own them."""
    owners = {_link_id(i, "nested"): (_link_id(i, "stack"), i["resource_name"]) for i in items if _link_id(i, "nested")}

    def path(stack_id: str | None, name: str) -> str:
        parts, seen = [name], set()
        while stack_id and stack_id != top and stack_id in owners and stack_id not in seen:
            seen.add(stack_id)
            stack_id, owner = owners[stack_id]
            parts.insert(0, owner)
        return "/".join(parts)

    return path


def _links(item: dict) -> list[str]:
    return sorted(link.get("rel", "") for link in item.get("links") or [])


def _stack_view(stack: dict) -> dict:
    view = {k: v for k, v in stack.items() if k not in ("links",)}
    view["links"] = _links(stack)
    if isinstance(view.get("outputs"), list):
        view["outputs"] = sorted(view["outputs"], key=lambda o: o.get("output_key", ""))
    return view


def _resource_view(item: dict) -> dict:
    view = {k: v for k, v in item.items() if k not in ("links",)}
    view["links"] = _links(item)
    if isinstance(view.get("required_by"), list):
        view["required_by"] = sorted(view["required_by"])
    return view


def _change_view(item: dict) -> dict:
    return {k: v for k, v in item.items() if k not in ("links",)} | {"links": _links(item)}


def _preview_view(body: dict) -> dict:
    stack = dict(body.get("stack", body))
    stack.pop("links", None)
    if isinstance(stack.get("resources"), list):
        stack["resources"] = _sorted_preview(stack["resources"])
    return stack


def _sorted_preview(items: list) -> list:
    out = []
    for item in items:
        if isinstance(item, list):
            out.append(_sorted_preview(item))
        elif isinstance(item, dict):
            out.append(_change_view(item))
        else:
            out.append(item)
    return sorted(out, key=lambda x: json.dumps(x, sort_keys=True))


def _dig(payload: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        payload = payload[int(part)] if isinstance(payload, list) else payload[part]
    return payload


def _expand_tree(value: Any, expand) -> Any:
    if isinstance(value, str):
        return expand(value)
    if isinstance(value, list):
        return [_expand_tree(v, expand) for v in value]
    if isinstance(value, dict):
        return {k: _expand_tree(v, expand) for k, v in value.items()}
    return value


# -- normalising ----------------------------------------------------------------------------------


class Normaliser:
    """Replaces what differs between any two runs (ids, times, ports, short ids) with stable
    placeholders: the n-th distinct UUID seen becomes `<uuid:n>`, so equalities survive."""

    def __init__(self, case: Case, member_names: set[str] | frozenset[str] = frozenset()):
        self.case = case
        member_names = member_names if case.spec.get("member_names") else frozenset()
        self.uuids: dict[str, str] = {}
        self.members: dict[str, str] = {}
        self.redact = [re.compile(r) for r in case.spec.get("redact") or []]
        self.member_pattern = (
            re.compile(r"(?<![A-Za-z0-9])(" + "|".join(sorted(member_names)) + r")(?![A-Za-z0-9])")
            if member_names
            else None
        )

    def text(self, value: str) -> str:
        for pattern in self.redact:
            value = pattern.sub("<redacted>", value)
        if self.member_pattern is not None:
            value = self.member_pattern.sub(
                lambda m: self.members.setdefault(m.group(1), f"<member:{len(self.members) + 1}>"), value
            )
        value = _ENDPOINT.sub("<endpoint>", value)
        value = _UUID.sub(lambda m: self.uuids.setdefault(m.group(0), f"<uuid:{len(self.uuids) + 1}>"), value)
        value = _TIME.sub("<time>", value)
        if self.case.stack_name in value:
            value = _SHORT_ID.sub("-<short-id>", value)
        return value

    def tree(self, value: Any, key: str | None = None) -> Any:
        if isinstance(value, str):
            if key in _TIME_KEYS:
                return "<time>"
            return self.text(value)
        if isinstance(value, list):
            return [self.tree(v) for v in value]
        if isinstance(value, dict):
            return {self.text(k): self.tree(v, k) for k, v in value.items()}
        return value


_PLACEHOLDER = re.compile(r"<(uuid|member):(\d+)>")


def canonical(observations: Any) -> Any:
    """The observations with their `<uuid:n>` placeholders renumbered in sorted-key order, so
    that two answers which differ only in the order of their JSON keys number ids alike."""
    order: dict[str, str] = {}

    def visit(node: Any) -> None:
        if isinstance(node, str):
            for match in _PLACEHOLDER.finditer(node):
                kind = match.group(1)
                order.setdefault(match.group(0), f"<{kind}:{sum(1 for k in order if k.startswith('<' + kind)) + 1}>")
        elif isinstance(node, list):
            for item in node:
                visit(item)
        elif isinstance(node, dict):
            for key in sorted(node):
                visit(key)
                visit(node[key])

    def rename(node: Any) -> Any:
        if isinstance(node, str):
            return _PLACEHOLDER.sub(lambda m: order[m.group(0)], node)
        if isinstance(node, list):
            return [rename(item) for item in node]
        if isinstance(node, dict):
            return {rename(k): rename(v) for k, v in node.items()}
        return node

    visit(observations)
    return rename(observations)


def mask(observations: list[dict], patterns: list[str]) -> list[dict]:
    """Replace the values at dotted paths (`*` matches any key) in every observation with
    `<masked>`: values random on both sides (a RandomString's value)."""
    observations = copy.deepcopy(observations)

    def walk(node: Any, parts: list[str]) -> None:
        if not parts or not isinstance(node, (dict, list)):
            return
        head, rest = parts[0], parts[1:]
        keys = (
            (range(len(node)) if isinstance(node, list) else list(node))
            if head == "*"
            else ([int(head)] if isinstance(node, list) and head.isdigit() else [head])
        )
        for k in keys:
            try:
                child = node[k]
            except (KeyError, IndexError, TypeError):
                continue
            if rest:
                walk(child, rest)
            elif child is not None:
                node[k] = "<masked>"

    for pattern in patterns:
        for observation in observations:
            walk(observation, pattern.split("."))
    return observations


def run_case(case: Case, endpoint: Endpoint) -> list[dict]:
    """Run one case; its normalised, masked observations."""
    run = Run(case, endpoint)
    try:
        observations = run.run()
    finally:
        run.clean_up()
        run.http.close()
    normaliser = Normaliser(case, run.member_names)
    return mask([normaliser.tree(o) for o in observations], case.spec.get("mask") or [])


def dump(value: Any) -> str:
    return json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
