"""The OpenAPI files shipped with the server describe exactly the routes Flask serves: every
(method, path) of the app (but the web console's pages) is in guest.yaml or orchestration.yaml, and nothing more. Real app,
real files; the server is built without starting its engine."""

from __future__ import annotations

import re

import pytest
import requests
import yaml

from engine.config import Config
from metadata_server import create_app
from metadata_server.openapi_api import document

METHODS = {"get", "post", "put", "patch", "delete"}
# Flask's `<converter(args):name>` and `<name>` both become OpenAPI's `{name}`.
VARIABLE = re.compile(r"<(?:[a-z_]+(?:\([^)]*\))?:)?([a-z_]+)>")


def described(name: str) -> set[tuple[str, str]]:
    spec = yaml.safe_load(document(name))
    return {(method.upper(), path) for path, item in spec["paths"].items() for method in item if method in METHODS}


def served(app) -> set[tuple[str, str]]:
    return {
        (method, VARIABLE.sub(r"{\1}", rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static" and not rule.endpoint.startswith("console.")  # pages, not an API
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    path = tmp_path_factory.mktemp("openapi")
    config = Config.from_env({}, db_url=f"sqlite:///{path}/hearth.db", data_dir=str(path / "data"))
    app = create_app(config, start=False)
    yield app
    app.extensions["hearth"].runtime.store.dispose()


def test_every_route_is_described_and_every_description_is_served(app):
    guest, orchestration = described("guest"), described("orchestration")
    assert not guest & orchestration, "a route is described in both files"
    routes = served(app)
    assert sorted(routes - guest - orchestration) == [], "routes missing from the OpenAPI files"
    assert sorted((guest | orchestration) - routes) == [], "described routes the server does not serve"


def test_path_parameters_are_declared_with_the_names_in_the_path():
    for name in ("guest", "orchestration"):
        spec = yaml.safe_load(document(name))
        shared = spec["components"].get("parameters", {})
        for path, item in spec["paths"].items():
            wanted = set(re.findall(r"{([a-z_]+)}", path))
            for method in METHODS & set(item):
                params = item.get("parameters", []) + item[method].get("parameters", [])
                params = [shared[p["$ref"].rsplit("/", 1)[1]] if "$ref" in p else p for p in params]
                declared = {p["name"] for p in params if p["in"] == "path"}
                assert declared == wanted, f"{name}.yaml {method.upper()} {path}: {declared} != {wanted}"


def test_each_listener_serves_its_own_description(hearth):
    for name in ("guest", "orchestration"):
        response = requests.get(f"{hearth.url}/openapi/{name}.yaml", timeout=10)
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"].startswith("application/yaml")
        assert yaml.safe_load(response.text)["openapi"].startswith("3.0")
