"""The corner of Keystone v3 Heat's stack users need, so the reference can run signal responders.

    python keystone_stub.py PORT TOKEN_JSON    # or serve(...) from heat_server.py, in a thread

OS::Heat::ScalingPolicy, AWS::AutoScaling::ScalingPolicy and the other SignalResponders make a
stack user and an EC2 key pair when they are created (for their `alarm_url`) and delete them
with the resource. Without a stack-user domain configured, Heat does that with the caller's
token through its catalog's `identity` endpoint: list the `heat_stack_user` role, create a
user, grant the role, create/list/get/delete `ec2` credentials, update (disable) and delete the
user. A signal to them is handled with the stack's stored credentials, which noauth leaves
unusable (its `X-Auth-Url` is the literal "url"), so the reference with `identity` defers auth
by trusts: a stack create makes a trust to the trustee `heat` (`POST /v3/OS-TRUST/trusts`),
and the engine later gets a trust-scoped token for it (`POST /v3/auth/tokens`).

AWS::AutoScaling::LaunchConfiguration checks its ImageId and InstanceType with Glance and
Nova, so the same server answers those two look-ups too (`/image`, `/compute` in the catalog):
one image `cirros` and one flavor `m1.tiny`, nothing else. No server is ever booted: the
cases map AWS::EC2::Instance to OS::Heat::None.

This serves exactly those calls from memory, as Keystone answers them, and nothing else (404).
It checks no password: every token is the noauth token's user, project, roles and catalog (the
trustee's own unscoped token is user `heat`'s). It is only ever started for the reference
(reference.py, `identity=True`); Heat's code is untouched, its configuration names this
endpoint.

Stdlib only: it runs inside the reference's virtualenv, next to heat_server.py.
"""

from __future__ import annotations

import http.server
import json
import re
import sys
import threading
import uuid

ROLE = {"id": "heat-stack-user-role", "name": "heat_stack_user", "domain_id": None}
IMAGE = {
    "id": "5f0c3a4e-3e1b-4a4f-9d52-6f0d8f1a2b3c",
    "name": "cirros",
    "status": "active",
    "visibility": "public",
    "disk_format": "qcow2",
    "container_format": "bare",
    "min_disk": 0,
    "min_ram": 0,
    "tags": [],
}
IMAGE_SCHEMA = {
    "name": "image",
    "properties": {"id": {"type": "string"}, "name": {"type": ["null", "string"]}, "status": {"type": "string"}},
    "additionalProperties": {"type": "string"},
    "links": [],
}
FLAVOR = {
    "id": "1",
    "name": "m1.tiny",
    "ram": 512,
    "vcpus": 1,
    "disk": 1,
    "OS-FLV-EXT-DATA:ephemeral": 0,
    "swap": 0,
    "rxtx_factor": 1.0,
    "os-flavor-access:is_public": True,
    "links": [],
}


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users: dict[str, dict] = {}
        self.credentials: dict[str, dict] = {}
        self.trusts: dict[str, dict] = {}


class _Handler(http.server.BaseHTTPRequestHandler):
    state: _State
    base: str
    token: dict  # the noauth token_response's "token"

    def log_message(self, *args):
        pass

    def _send(self, status: int, body: dict | None = None, headers: dict | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def _version(self) -> dict:
        return {
            "id": "v3.14",
            "status": "stable",
            "updated": "2020-04-07T00:00:00Z",
            "links": [{"rel": "self", "href": f"{self.base}/v3/"}],
            "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}],
        }

    def _not_found(self) -> None:
        self._send(404, {"error": {"code": 404, "title": "Not Found", "message": "Could not find the resource."}})

    def do_GET(self):  # the http.server hook's names
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "":
            return self._send(300, {"versions": {"values": [self._version()]}})
        if path == "/v3":
            return self._send(200, {"version": self._version()})
        if path.startswith(("/image", "/compute")):
            return self._cloud(path)
        if path == "/v3/roles":
            return self._send(200, {"roles": [ROLE], "links": {"self": f"{self.base}/v3/roles"}})
        if path == "/v3/credentials":
            with self.state.lock:
                return self._send(200, {"credentials": list(self.state.credentials.values()), "links": {}})
        match = re.fullmatch(r"/v3/(credentials|users)/([^/]+)", path)
        if match:
            kind, key = match.groups()
            with self.state.lock:
                found = getattr(self.state, kind).get(key)
            return self._send(200, {kind[:-1]: found}) if found else self._not_found()
        return self._not_found()

    def _issue(self, request: dict) -> None:
        auth = request.get("auth", {})
        user = auth.get("identity", {}).get("password", {}).get("user", {})
        scope = auth.get("scope") or {}
        token = dict(self.token)
        if "OS-TRUST:trust" in scope:
            trust_id = scope["OS-TRUST:trust"]["id"]
            with self.state.lock:
                trust = self.state.trusts.get(trust_id)
            if trust is None:
                return self._send(401, {"error": {"code": 401, "title": "Unauthorized", "message": "no such trust"}})
            token["OS-TRUST:trust"] = {
                "id": trust_id,
                "impersonation": True,
                "trustor_user": {"id": trust["trustor_user_id"]},
                "trustee_user": {"id": trust["trustee_user_id"]},
            }
        elif not scope and user.get("name") == "heat":
            token = {k: v for k, v in token.items() if k not in ("project", "catalog", "roles")}
            token["user"] = {"id": "heat", "name": "heat", "domain": {"id": "default", "name": "Default"}}
        self._send(201, {"token": token}, {"X-Subject-Token": uuid.uuid4().hex})

    def _cloud(self, path: str) -> None:
        """Glance's and Nova's look-ups of the one image and the one flavor."""
        query = self.path.partition("?")[2]
        compute_version = {
            "id": "v2.1",
            "status": "CURRENT",
            "version": "2.79",
            "min_version": "2.1",
            "updated": "2013-07-23T11:33:21Z",
            "links": [{"rel": "self", "href": f"{self.base}/compute/v2.1/"}],
        }
        if path in ("/compute", "/compute/v2.1"):
            return self._send(
                200, {"version": compute_version} if path.endswith("2.1") else {"versions": [compute_version]}
            )
        if path in ("/compute/v2.1/flavors/detail", "/compute/v2.1/flavors"):
            return self._send(200, {"flavors": [FLAVOR]})
        if path == "/compute/v2.1/flavors/1":
            return self._send(200, {"flavor": FLAVOR})
        if path == "/image/v2/schemas/image":
            return self._send(200, IMAGE_SCHEMA)
        if path == "/image/v2/images":
            found = [IMAGE] if "name=cirros" in query or "name" not in query else []
            return self._send(200, {"images": found, "schema": "/v2/schemas/images", "first": "/v2/images"})
        if path == f"/image/v2/images/{IMAGE['id']}":
            return self._send(200, IMAGE)
        return self._not_found()

    def do_POST(self):
        path = self.path.split("?", 1)[0].rstrip("/")
        body = self._body()
        if path == "/v3/auth/tokens":
            return self._issue(body)
        if path == "/v3/OS-TRUST/trusts":
            trust = {**body.get("trust", {}), "id": uuid.uuid4().hex}
            trust["roles"] = [{"id": r.get("id"), "name": r.get("name")} for r in trust.get("roles", [])]
            with self.state.lock:
                self.state.trusts[trust["id"]] = trust
            return self._send(201, {"trust": trust})
        if path == "/v3/users":
            user = {"domain_id": "default", "enabled": True, **body.get("user", {}), "id": uuid.uuid4().hex}
            user.pop("password", None)
            with self.state.lock:
                self.state.users[user["id"]] = user
            return self._send(201, {"user": user})
        if path == "/v3/credentials":
            credential = {**body.get("credential", {}), "id": uuid.uuid4().hex}
            with self.state.lock:
                self.state.credentials[credential["id"]] = credential
            return self._send(201, {"credential": credential})
        return self._not_found()

    def do_PUT(self):
        if re.fullmatch(r"/v3/projects/[^/]+/users/[^/]+/roles/[^/]+", self.path.rstrip("/")):
            return self._send(204)
        return self._not_found()

    def do_PATCH(self):
        match = re.fullmatch(r"/v3/users/([^/]+)", self.path.rstrip("/"))
        body = self._body()
        with self.state.lock:
            user = self.state.users.get(match.group(1)) if match else None
            if user is not None:
                user.update(body.get("user", {}))
        return self._send(200, {"user": user}) if user else self._not_found()

    def do_DELETE(self):
        match = re.fullmatch(r"/v3/(credentials|users|OS-TRUST/trusts)/([^/]+)", self.path.rstrip("/"))
        with self.state.lock:
            kind = match.group(1).rsplit("/", 1)[-1].lower() if match else ""
            gone = match and getattr(self.state, kind).pop(match.group(2), None)
        return self._send(204) if gone else self._not_found()


def serve(port: int, token_file: str) -> http.server.ThreadingHTTPServer:
    """Serve the stub on 127.0.0.1:PORT from a daemon thread, issuing the token of
    `token_file` (noauth's token_response); the server, to shut down."""
    with open(token_file) as source:
        token = json.load(source)["token"]
    handler = type("Handler", (_Handler,), {"state": _State(), "base": f"http://127.0.0.1:{port}", "token": token})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2])
    threading.Event().wait()
