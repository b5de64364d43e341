"""One JSON error envelope for every endpoint, pinned by one test across all of them."""

from __future__ import annotations

import threading

import pytest
import requests

from engine.config import Config
from metadata_server import create_app
from metadata_server.serving import listen

BAD_REQUESTS = [
    # (method, path, kwargs, expected status)
    ("GET", "/nowhere", {}, 404),
    ("GET", "/v1/admin/stacks/missing", {}, 404),
    ("POST", "/v1/admin/servers/missing/bootstrap", {}, 404),
    ("POST", "/v1/admin/servers/x/bootstrap", {"json": {"nope": 1}}, 400),
    ("DELETE", "/v1/admin/stacks/missing", {}, 404),
    ("GET", "/v1/admin/stacks/missing/resources", {}, 404),
    ("GET", "/v1/admin/stacks/missing/00000000-0000-0000-0000-000000000000", {}, 404),
    ("GET", "/v1/admin/stacks/missing/00000000-0000-0000-0000-000000000000/events", {}, 404),
    ("GET", "/v1/admin/stacks/missing/00000000-0000-0000-0000-000000000000/outputs/x", {}, 404),
    ("POST", "/v1/admin/stacks", {"data": "{not json"}, 400),
    ("POST", "/v1/admin/stacks", {"json": []}, 400),
    ("POST", "/v1/admin/stacks", {"json": {"stack_name": "1bad", "template": "x"}}, 400),
    ("POST", "/v1/admin/stacks", {"json": {"stack_name": "ok"}}, 400),
    (
        "POST",
        "/v1/admin/stacks",
        {"json": {"stack_name": "ok", "template": "heat_template_version: 1999-01-01\n"}},
        400,
    ),
    ("POST", "/v1/admin/stacks", {"json": {"stack_name": "ok", "template": "a: [", "files": []}}, 400),
    ("PATCH", "/v1/admin/stacks", {}, 405),
    ("GET", "/v1/admin/stacks?limit=x", {}, 400),
    ("GET", "/v1/admin/stacks?show_deleted=perhaps", {}, 400),
    ("POST", "/v1/admin/stacks/preview", {"json": {"stack_name": "ok"}}, 400),
    ("PUT", "/v1/admin/stacks/missing", {"json": {}}, 404),
    ("POST", "/v1/admin/stacks/missing/actions", {"json": {"suspend": None}}, 404),
    ("PUT", "/v1/admin/stacks/missing/00000000-0000-0000-0000-000000000000", {"json": {}}, 404),
    ("PATCH", "/v1/admin/stacks/missing/00000000-0000-0000-0000-000000000000", {"json": {}}, 404),
    ("PUT", "/v1/admin/stacks/missing/00000000-0000-0000-0000-000000000000/preview", {"json": {}}, 404),
    ("POST", "/v1/admin/stacks/missing/00000000-0000-0000-0000-000000000000/actions", {"json": {"check": None}}, 404),
    ("DELETE", "/v1/admin/stacks/missing/00000000-0000-0000-0000-000000000000/abandon", {}, 404),
    ("GET", "/v1/admin/stacks/missing/00000000-0000-0000-0000-000000000000/environment", {}, 404),
    ("GET", "/v1/admin/stacks/missing/00000000-0000-0000-0000-000000000000/files", {}, 404),
    (
        "PATCH",
        "/v1/admin/stacks/missing/00000000-0000-0000-0000-000000000000/resources/r",
        {"json": {"mark_unhealthy": True}},
        404,
    ),
    ("POST", "/v1/admin/stacks/missing/00000000-0000-0000-0000-000000000000/resources/r/signal", {}, 404),
    ("GET", "/v1/admin/resource_types?support_status=GOOD", {}, 400),
    ("GET", "/v1/admin/resource_types/Nope::Type", {}, 404),
    ("GET", "/v1/admin/resource_types/OS::Heat::None/template?template_type=xml", {}, 400),
    ("POST", "/v1/admin/template_versions", {}, 405),
    ("GET", "/v1/admin/template_versions/heat_template_version.1999-01-01/functions", {}, 404),
    ("POST", "/v1/admin/validate", {"json": []}, 400),
    ("POST", "/v1/admin/validate", {"json": {"template": "a: ["}}, 400),
    ("POST", "/v1/admin/validate?show_nested=perhaps", {"json": {"template": "a: 1"}}, 400),
    ("GET", "/guest/v1/servers/x/metadata", {}, 401),
    ("GET", "/guest/v1/servers/x/metadata", {"headers": {"Authorization": "Bearer nope"}}, 401),
    ("GET", "/guest/v1/servers/x/metadata?since=abc", {}, 400),
    ("POST", "/guest/v1/deployments/x/signal", {"json": {}}, 401),
    ("POST", "/guest/v1/deployments/x/signal", {"data": "[1]"}, 400),
    ("POST", "/guest/v1/deployments/x/signal?expires=1&signature=bad", {"json": {}}, 403),
    ("POST", "/guest/v1/deployments/x/progress", {"data": "nope"}, 400),
    ("POST", "/guest/v1/handles/x/signal", {"json": {"status": "MAYBE"}}, 400),
    ("POST", "/guest/v1/handles/x/signal", {"json": {"colour": 1}}, 400),
    ("POST", "/guest/v1/handles/x/signal", {"json": {}}, 401),
    ("PUT", "/signal/x?expires=9999999999&signature=forged", {"data": "{}"}, 403),
    ("PUT", "/signal/x", {"data": "x" * (5 * 1024 * 1024)}, 413),
    # Once 500s (issue 12): numbers Python's float() reads but no integer holds, deep JSON,
    # a wrong JSON type in the admin API, a time past year 9999, and the HTTP server's own 431.
    ("GET", "/v1/admin/stacks?limit=inf", {}, 400),
    ("GET", "/v1/admin/stacks?limit=1e400", {}, 400),
    ("GET", "/v1/admin/software_configs?limit=" + "9" * 5000, {}, 400),
    ("GET", "/admin/v1/audit?limit=nan", {}, 400),
    ("GET", "/admin/v1/audit?since=9999-12-31T23:59:59-23:59", {}, 400),
    ("GET", "/guest/v1/servers/x/metadata?wait=inf", {}, 400),
    ("POST", "/v1/admin/stacks", {"data": "[" * 5000 + "]" * 5000}, 400),
    ("POST", "/v1/admin/stacks", {"data": '{"stack_name": "x", "timeout_mins": NaN}'}, 400),
    ("POST", "/guest/v1/deployments/x/signal", {"data": '{"a":' * 5000 + "0" + "}" * 5000}, 400),
    ("POST", "/admin/v1/tokens", {"json": {"user": ["admin"]}}, 400),
    ("GET", "/v1/admin/stacks", {"headers": {"X-Big": "a" * 70000}}, 431),
]


@pytest.mark.parametrize("method, path, kwargs, status", BAD_REQUESTS)
def test_every_error_is_one_json_envelope(shared_hearth, method, path, kwargs, status):
    hearth = shared_hearth
    response = hearth.http.request(method, hearth.url + path, timeout=30, **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "title", "explanation", "error"}
    assert body["code"] == status
    assert set(body["error"]) == {"type", "code", "message", "traceback"}
    assert body["error"]["message"] and body["error"]["message"] == body["explanation"]
    assert body["error"]["traceback"] is None
    assert "Traceback" not in response.text


def test_failures_behind_the_views_are_answered_in_the_envelope(tmp_path):
    """Flask turns an error handler's own failure into its InternalServerError, which carried
    werkzeug's words for browsers; a RecursionError is a 400. (A real app and listener, with
    routes and a handler that fail on purpose, registered before it serves.)"""
    config = Config.from_env({}, db_url=f"sqlite:///{tmp_path}/h.db", data_dir=str(tmp_path / "data"))
    app = create_app(config, start=False)

    class Broken(Exception):
        pass

    @app.get("/broken")
    def broken():
        raise Broken()

    @app.errorhandler(Broken)
    def broken_handler(error):
        raise RuntimeError("the handler fails too")

    @app.get("/deep")
    def deep():
        def down(value):
            return down([value])

        return down(0)

    httpd = listen("127.0.0.1", 0, app)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        answer = requests.get(f"http://127.0.0.1:{httpd.server_port}/broken", timeout=30)
        deep = requests.get(f"http://127.0.0.1:{httpd.server_port}/deep", timeout=30)
    finally:
        httpd.shutdown()
        httpd.server_close()
        app.extensions["hearth"].runtime.store.dispose()
    assert answer.status_code == 500
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json()["error"] == {
        "type": "InternalError",
        "code": "internal_error",
        "traceback": None,
        "message": "internal server error; the server log has the details",
    }
    # A value nested past Python's stack, however it was built, is the request's doing: 400.
    assert deep.status_code == 400
    assert deep.json()["error"]["message"] == "the request holds a value nested too deeply to process"
