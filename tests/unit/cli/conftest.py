"""A stand-in Hearth API (Flask, real HTTP on 127.0.0.1) with a scripted engine, for CLI tests."""

from __future__ import annotations

import logging
import threading
import uuid

import pytest
from flask import Flask, jsonify, redirect, request
from werkzeug.serving import make_server

from engine.cli.connection import ClientOptions


def envelope(status: int, message: str, error_type: str):
    body = {
        "code": status,
        "title": "Error",
        "explanation": message,
        "error": {"type": error_type, "code": error_type.lower(), "message": message},
    }
    return jsonify(body), status


class FakeHearth:
    """Just enough of the v1 API: stacks, a 302 lookup, events with marker and long-poll.

    The engine is a script of steps per stack. With `auto_advance`, a long-poll that finds
    nothing new runs the next step itself, so tests need no threads and no clock; without
    it, a test advances the engine once `parked` says a request is being held.
    """

    def __init__(self):
        self.cond = threading.Condition()
        self.parked = threading.Event()
        self.auto_advance = True
        self.wait_cap = 0.05
        self.stacks: dict[str, dict] = {}
        self.events: dict[str, list[dict]] = {}
        self.steps: dict[str, list[tuple]] = {}
        self.gone: set[str] = set()
        self.requests: list[dict] = []
        self.bodies: list[dict] = []
        self.create_script = self.create_ok
        self.delete_script = self.delete_ok
        self.scripts: dict = {}  # action -> script, for update and the stack actions
        self.clock = 0

    # The scripted engine ----------------------------------------------------------------

    def event(self, stack, resource, status, reason):
        stack_level = resource is None
        return {
            "resource_name": stack["stack_name"] if stack_level else resource,
            "logical_resource_id": stack["stack_name"] if stack_level else resource,
            "physical_resource_id": stack["id"] if stack_level else f"{resource}-phys",
            "resource_type": "OS::Heat::Stack" if stack_level else "OS::Heat::None",
            "resource_status": status,
            "resource_status_reason": reason,
        }

    def create_ok(self, stack):
        return [
            (self.event(stack, None, "CREATE_IN_PROGRESS", "Stack CREATE started"), None),
            (self.event(stack, "web", "CREATE_IN_PROGRESS", "state changed"), None),
            (self.event(stack, "web", "CREATE_COMPLETE", "state changed"), None),
            (
                self.event(stack, None, "CREATE_COMPLETE", "Stack CREATE completed successfully"),
                ("CREATE_COMPLETE", "Stack CREATE completed successfully"),
            ),
        ]

    def create_failed(self, stack):
        return [
            (self.event(stack, None, "CREATE_IN_PROGRESS", "Stack CREATE started"), None),
            (self.event(stack, "web", "CREATE_FAILED", "boom"), None),
            (
                self.event(stack, None, "CREATE_FAILED", "Resource CREATE failed: boom"),
                ("CREATE_FAILED", "Resource CREATE failed: boom"),
            ),
        ]

    def create_without_stack_events(self, stack):
        # The stack's status changes with no stack-level event: only the fallback sees it.
        return [
            (self.event(stack, "web", "CREATE_COMPLETE", "state changed"), None),
            (None, ("CREATE_COMPLETE", "done")),
        ]

    def delete_ok(self, stack):
        return [
            (self.event(stack, None, "DELETE_IN_PROGRESS", "Stack DELETE started"), None),
            (self.event(stack, "web", "DELETE_COMPLETE", "state changed"), None),
            (
                self.event(stack, None, "DELETE_COMPLETE", "Stack DELETE completed successfully"),
                ("DELETE_COMPLETE", "Stack DELETE completed successfully"),
            ),
        ]

    def delete_purged(self, stack):
        return [(self.event(stack, None, "DELETE_IN_PROGRESS", "Stack DELETE started"), None), (None, "purge")]

    def operation_ok(self, stack, action):
        return [
            (self.event(stack, None, f"{action}_IN_PROGRESS", f"Stack {action} started"), None),
            (self.event(stack, "web", f"{action}_COMPLETE", "state changed"), None),
            (
                self.event(stack, None, f"{action}_COMPLETE", f"Stack {action} completed successfully"),
                (f"{action}_COMPLETE", f"Stack {action} completed successfully"),
            ),
        ]

    def operation_failed(self, stack, action):
        return [
            (self.event(stack, None, f"{action}_IN_PROGRESS", f"Stack {action} started"), None),
            (self.event(stack, "web", f"{action}_FAILED", "it broke"), None),
            (
                self.event(stack, None, f"{action}_FAILED", f"Resource {action} failed: it broke"),
                (f"{action}_FAILED", f"Resource {action} failed: it broke"),
            ),
        ]

    def operation_rolled_back(self, stack, action):
        failed = self.operation_failed(stack, action)
        failed[-1] = (failed[-1][0], ("ROLLBACK_IN_PROGRESS", "Stack ROLLBACK started"))
        return failed + self.operation_ok(stack, "ROLLBACK")

    def start(self, stack, action):
        """Begin `action` on `stack` with the script `scripts` holds for it (default: success)."""
        with self.cond:
            stack["stack_status"] = f"{action}_IN_PROGRESS"
            self.steps[stack["id"]] = self.scripts.get(action, self.operation_ok)(stack, action)

    def advance(self, stack_id):
        """Run the next scripted step of `stack_id`; False when there is none."""
        with self.cond:
            if not self.steps.get(stack_id):
                return False
            event, change = self.steps[stack_id].pop(0)
            stack = self.stacks[stack_id]
            if event is not None:
                self.clock += 1
                event = dict(event, id=str(uuid.uuid4()), event_time=f"2026-11-22T04:30:{self.clock:02d}Z")
                self.events[stack_id].append(event)
            if change == "purge":
                self.gone.add(stack_id)
            elif change is not None:
                stack["stack_status"], stack["stack_status_reason"] = change
            self.cond.notify_all()
            return True

    def add_stack(self, name, status="CREATE_COMPLETE", outputs=None, **extra):
        stack = {
            "id": str(uuid.uuid4()),
            "stack_name": name,
            "stack_status": status,
            "stack_status_reason": "",
            "creation_time": "2026-11-22T04:30:00Z",
            "updated_time": None,
            "description": "fake",
            "parameters": {},
            "outputs": outputs or [],
            "timeout_mins": None,
            **extra,
        }
        with self.cond:
            self.stacks[stack["id"]] = stack
            self.events[stack["id"]] = []
            self.steps[stack["id"]] = []
        return stack

    # The API ----------------------------------------------------------------------------

    def find(self, name_or_id):
        if name_or_id in self.stacks and name_or_id not in self.gone:
            return self.stacks[name_or_id]
        for stack in self.stacks.values():
            if stack["stack_name"] == name_or_id and stack["stack_status"] != "DELETE_COMPLETE":
                return stack
        return None

    def resolved(self, name, stack_id):
        stack = self.stacks.get(stack_id)
        if stack is None or stack["stack_name"] != name or stack_id in self.gone:
            return None
        return stack

    def app(self) -> Flask:
        app = Flask("fake_hearth")
        base = "/v1/<project>/stacks"

        @app.before_request
        def record():
            self.requests.append(
                {
                    "method": request.method,
                    "path": request.path,
                    "args": request.args.to_dict(),
                    "arglists": request.args.to_dict(flat=False),
                    "token": request.headers.get("X-Auth-Token"),
                    "body": request.get_json(silent=True),
                }
            )

        @app.post(base)
        def create(project):
            body = request.get_json()
            self.bodies.append(body)
            if self.find(body["stack_name"]):
                return envelope(409, f"The Stack ({body['stack_name']}) already exists.", "StackExists")
            stack = self.add_stack(
                body["stack_name"],
                status="CREATE_IN_PROGRESS",
                timeout_mins=body.get("timeout_mins"),
                parameters=body["parameters"],
            )
            self.steps[stack["id"]] = (
                self.operation_ok(stack, "ADOPT") if "adopt_stack_data" in body else self.create_script(stack)
            )
            return jsonify({"stack": {"id": stack["id"], "links": []}}), 201

        @app.get(base)
        def index(project):
            return jsonify({"stacks": [s for s in self.stacks.values() if s["stack_status"] != "DELETE_COMPLETE"]})

        @app.get(f"{base}/<name_or_id>")
        def lookup(project, name_or_id):
            stack = self.find(name_or_id)
            if stack is None:
                return envelope(404, f"The Stack ({name_or_id}) could not be found.", "EntityNotFound")
            return redirect(f"/v1/{project}/stacks/{stack['stack_name']}/{stack['id']}", 302)

        def with_stack(view):
            def wrapped(project, name, stack_id, **kwargs):
                stack = self.resolved(name, stack_id)
                if stack is None:
                    return envelope(404, f"The Stack ({name}) could not be found.", "EntityNotFound")
                return view(stack, **kwargs)

            wrapped.__name__ = view.__name__
            return wrapped

        @app.get(f"{base}/<name>/<stack_id>")
        @with_stack
        def show(stack):
            return jsonify({"stack": stack})

        @app.delete(f"{base}/<name>/<stack_id>")
        @with_stack
        def delete(stack):
            with self.cond:
                stack["stack_status"] = "DELETE_IN_PROGRESS"
                self.steps[stack["id"]] = self.delete_script(stack)
            return "", 204

        @app.get(f"{base}/<name>/<stack_id>/resources")
        @with_stack
        def resources(stack):
            def row(name, stack_name, stack_id):
                link = f"http://fake/v1/admin/stacks/{stack_name}/{stack_id}"
                return {
                    "resource_name": name,
                    "logical_resource_id": name,
                    "physical_resource_id": f"{name}-phys",
                    "resource_type": "OS::Heat::None",
                    "resource_status": "CREATE_COMPLETE",
                    "resource_status_reason": "state changed",
                    "creation_time": "2026-11-22T04:30:02Z",
                    "updated_time": None,
                    "required_by": [],
                    "links": [{"href": f"{link}/resources/{name}", "rel": "self"}, {"href": link, "rel": "stack"}],
                }

            rows = [row("web", stack["stack_name"], stack["id"])]
            if int(request.args.get("nested_depth", 0)):
                rows.append(row("inner", f"{stack['stack_name']}-web-x1", "nested-id"))
            return jsonify({"resources": rows})

        @app.get(f"{base}/<name>/<stack_id>/resources/<resource>")
        @with_stack
        def resource(stack, resource):
            if resource != "web":
                return envelope(404, f"The Resource ({resource}) could not be found.", "EntityNotFound")
            return jsonify(
                {
                    "resource": {
                        "resource_name": "web",
                        "attributes": {"ip": "10.0.0.5"},
                        "resource_status": "CREATE_COMPLETE",
                        "description": "",
                    }
                }
            )

        @app.get(f"{base}/<name>/<stack_id>/events")
        @with_stack
        def events(stack):
            return jsonify({"events": self.events_after(stack["id"], request.args)})

        @app.get(f"{base}/<name>/<stack_id>/outputs")
        @with_stack
        def outputs(stack):
            return jsonify(
                {
                    "outputs": [
                        {"output_key": o["output_key"], "description": o["description"]} for o in stack["outputs"]
                    ]
                }
            )

        @app.get(f"{base}/<name>/<stack_id>/outputs/<key>")
        @with_stack
        def output(stack, key):
            for o in stack["outputs"]:
                if o["output_key"] == key:
                    return jsonify({"output": o})
            return envelope(404, f"The Output ({key}) could not be found.", "NotFound")

        self.operation_routes(app, base, with_stack)
        return app

    def operation_routes(self, app, base, with_stack):
        """Update, previews, actions, abandon, the stored parts, mark unhealthy and signal."""
        one = f"{base}/<name>/<stack_id>"

        @app.route(one, methods=["PUT", "PATCH"])
        @with_stack
        def update(stack):
            self.start(stack, "UPDATE")
            return "", 202

        @app.route(f"{one}/preview", methods=["PUT", "PATCH"])
        @with_stack
        def preview_update(stack):
            web = {"resource_name": "web", "resource_type": "OS::Heat::None"}
            return jsonify(
                {"resource_changes": {"added": [], "deleted": [], "replaced": [], "unchanged": [], "updated": [web]}}
            )

        @app.post(f"{base}/preview")
        def preview_create(project):
            body = request.get_json()
            return jsonify(
                {"stack": {"id": "None", "stack_name": body["stack_name"], "resources": [{"resource_name": "web"}]}}
            )

        @app.post(f"{one}/actions")
        @with_stack
        def action(stack):
            (name,) = request.get_json()
            self.start(
                stack, {"cancel_update": "ROLLBACK", "cancel_without_rollback": "UPDATE"}.get(name, name.upper())
            )
            return "", 200

        @app.delete(f"{one}/abandon")
        @with_stack
        def abandon(stack):
            with self.cond:
                self.gone.add(stack["id"])
            return jsonify({"id": stack["id"], "name": stack["stack_name"], "resources": {}})

        @app.get(f"{one}/<any(environment, files, template):part>")
        @with_stack
        def part(stack, part):
            return jsonify(stack.get(part) or {})

        @app.route(f"{one}/resources/<resource>", methods=["PATCH"])
        @app.post(f"{one}/resources/<resource>/signal")
        @with_stack
        def resource_change(stack, resource):
            return "", 200

    def events_after(self, stack_id, args):
        marker, limit = args.get("marker"), int(args.get("limit", 0))
        wait = float(args.get("wait", 0))

        def new():
            events = self.events[stack_id]
            ids = [e["id"] for e in events]
            after = events[ids.index(marker) + 1 :] if marker in ids else ([] if marker else events)
            return after[:limit] if limit else after

        with self.cond:
            if wait and not new():
                if not (self.auto_advance and self.advance(stack_id)):
                    self.parked.set()
                    self.cond.wait_for(new, timeout=min(wait, self.wait_cap))
            return new()


@pytest.fixture
def hearth():
    """(FakeHearth, its URL) served on 127.0.0.1 in a thread for the length of one test."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    fake = FakeHearth()
    server = make_server("127.0.0.1", 0, fake.app(), threaded=True)
    # A short poll interval only makes shutdown() return sooner at teardown.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def options():
    """No pacing: the fake server's empty answers are honest, not a busy loop."""
    return ClientOptions(min_round=0)
