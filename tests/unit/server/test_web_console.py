"""The web console without a browser (docs/console.md): the cookie and CSRF rules as pure
functions, the graph layout with literals, and a real server on 127.0.0.1 (the ASGI front, so
the cookie-authorised event stream too) for sign-in, project scoping, CSRF refusals, headers
and the setting that turns it off."""

from __future__ import annotations

import re

import pytest
import requests

from engine.config import Config
from engine.store.crypto import Keyring
from metadata_server import create_app
from metadata_server.console import graph, session as sessions
from tests.support import ADMIN_TOKEN, wait_for

SECRET_TEMPLATE = """heat_template_version: 2018-08-31
parameters:
  password: {type: string, hidden: true, default: very-secret-value}
  size: {type: number, default: 3}
resources:
  first: {type: OS::Heat::Value, properties: {value: one}}
  second: {type: OS::Heat::Value, properties: {value: {get_attr: [first, value]}}}
outputs:
  shown: {value: {get_attr: [second, value]}}
"""
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


# Pure rules -------------------------------------------------------------------------------
def test_a_cookie_names_a_project_and_a_token_and_nothing_malformed_passes():
    assert sessions.parse("admin:hat_abc") == sessions.Session("admin", "hat_abc")
    assert sessions.parse("admin:hat_abc").cookie == "admin:hat_abc"
    for bad in (None, "", "admin", ":hat_abc", "admin:", "admin:hat abc"):
        assert sessions.parse(bad) is None, bad


def test_the_csrf_token_is_bound_to_the_cookie_and_the_key():
    keyring = Keyring("k" * 44)
    mine, other = sessions.Session("admin", "hat_a"), sessions.Session("admin", "hat_b")
    token = sessions.csrf_token(keyring, mine)
    assert "hat_a" not in token
    assert sessions.csrf_ok(keyring, mine, token)
    assert not sessions.csrf_ok(keyring, other, token)
    assert not sessions.csrf_ok(keyring, mine, "")
    assert not sessions.csrf_ok(keyring, None, token)
    assert not sessions.csrf_ok(Keyring("j" * 44), mine, token)


def test_the_sign_in_form_is_a_double_submit():
    nonce = sessions.new_signin_nonce()
    assert sessions.signin_ok(nonce, nonce)
    assert not sessions.signin_ok(nonce, nonce + "x")
    assert not sessions.signin_ok(None, nonce) and not sessions.signin_ok(nonce, None)


def test_the_graph_is_layered_by_requirements_and_edges_point_right():
    resources = [
        {"resource_name": "config", "required_by": ["deploy"], "resource_status": "CREATE_COMPLETE"},
        {"resource_name": "server", "required_by": ["deploy", "group"], "resource_status": "CREATE_FAILED"},
        {"resource_name": "deploy", "required_by": [], "resource_status": "CREATE_IN_PROGRESS"},
        {
            "resource_name": "group",
            "required_by": [],
            "links": [{"rel": "nested", "href": "http://x/v1/p/stacks/g/1234"}],
        },
    ]
    assert graph.layers(resources) == {"config": 0, "server": 0, "deploy": 1, "group": 1}
    drawn = graph.layout(resources)
    assert {(e.source, e.target) for e in drawn.edges} == {
        ("config", "deploy"),
        ("server", "deploy"),
        ("server", "group"),
    }
    assert all(e.end[0] > e.start[0] for e in drawn.edges)
    nodes = {n.name: n for n in drawn.nodes}
    assert nodes["group"].nested == "1234" and nodes["deploy"].nested is None
    assert (nodes["server"].tone, nodes["deploy"].tone, nodes["config"].tone) == ("failed", "progress", "complete")
    assert drawn.width >= nodes["deploy"].x + graph.BOX_W and drawn.height >= nodes["server"].y + graph.BOX_H


def test_a_cycle_is_cut_not_followed_forever():
    resources = [{"resource_name": "a", "required_by": ["b"]}, {"resource_name": "b", "required_by": ["a"]}]
    assert set(graph.layers(resources)) == {"a", "b"}


# Over HTTP --------------------------------------------------------------------------------
def sign_in(url: str, token: str, project: str = "") -> requests.Session:
    browser = requests.Session()
    form = browser.get(f"{url}/console/signin", timeout=30)
    nonce = CSRF.search(form.text).group(1)
    answer = browser.post(
        f"{url}/console/signin",
        data={"csrf_token": nonce, "token": token, "project": project},
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code == 303, answer.text
    return browser


def other_project(hearth) -> str:
    """A token of user `bob`, a member of project `other` only."""
    admin = f"{hearth.url}/admin/v1"
    assert hearth.http.post(f"{admin}/projects", json={"name": "other"}, timeout=30).status_code == 201
    assert hearth.http.post(f"{admin}/users", json={"name": "bob"}, timeout=30).status_code == 201
    assert hearth.http.put(f"{admin}/projects/other/users/bob/roles/member", timeout=30).status_code < 300
    answer = hearth.http.post(f"{admin}/tokens", json={"user": "bob", "name": "console"}, timeout=30)
    return answer.json()["token"]["token"]


def test_sign_in_scopes_every_page_to_the_project_and_refuses_forgeries(hearth):
    url = hearth.url
    mine = hearth.create_stack("mine", SECRET_TEMPLATE).json()["stack"]["id"]
    bob = other_project(hearth)
    theirs = requests.post(
        f"{url}/v1/other/stacks",
        json={"stack_name": "theirs-secret-name", "template": SECRET_TEMPLATE},
        headers={"X-Auth-Token": bob},
        timeout=30,
    ).json()["stack"]["id"]
    hearth.wait_stack("mine", ("CREATE_COMPLETE",))

    # A wrong token: a clear message on the sign-in page, no cookie.
    form = requests.Session()
    nonce = CSRF.search(form.get(f"{url}/console/signin", timeout=30).text).group(1)
    wrong = form.post(f"{url}/console/signin", data={"csrf_token": nonce, "token": "hat_wrong"}, timeout=30)
    assert wrong.status_code == 401 and "unknown, expired or revoked" in wrong.text
    assert "hearth_console" not in form.cookies or not form.cookies.get("hearth_console")
    audit = hearth.http.get(f"{url}/admin/v1/audit", params={"action": "auth.failed"}, timeout=30).json()["events"]
    assert any(e["subject"] == "POST /console/signin" for e in audit) and "hat_wrong" not in str(audit)
    # A sign-in form posted from elsewhere (no double-submit cookie) is refused.
    forged = requests.post(f"{url}/console/signin", data={"csrf_token": nonce, "token": ADMIN_TOKEN}, timeout=30)
    assert forged.status_code == 400 and "did not come from this console" in forged.text

    browser = sign_in(url, ADMIN_TOKEN)
    cookie = next(c for c in browser.cookies if c.name == "hearth_console")
    assert cookie.path == "/console/" and cookie.has_nonstandard_attr("HttpOnly")
    listing = browser.get(f"{url}/console/stacks", timeout=30)
    assert listing.status_code == 200 and "mine" in listing.text and "theirs-secret-name" not in listing.text
    assert ADMIN_TOKEN not in listing.text
    headers = listing.headers
    assert (
        "script-src 'self'" in headers["Content-Security-Policy"]
        and "unsafe-inline" not in headers["Content-Security-Policy"]
    )
    assert headers["X-Frame-Options"] == "DENY" and headers["Cache-Control"] == "no-store"

    page = browser.get(f"{url}/console/stacks/{mine}", timeout=30)
    assert page.status_code == 200 and "******" in page.text and "very-secret-value" not in page.text
    for path in (
        f"/console/stacks/{theirs}",
        f"/console/stacks/{theirs}/deployments",
        f"/console/stacks/{theirs}/changes",
    ):
        refused = browser.get(url + path, timeout=30)
        assert refused.status_code == 404 and refused.headers["Content-Type"].startswith("text/html"), path
        assert "theirs-secret-name" not in refused.text
    assert browser.get(f"{url}/console/stream/other", timeout=30).status_code == 404

    # bob sees his project, and not the admin's stack
    bobs = sign_in(url, bob)
    assert "theirs-secret-name" in bobs.get(f"{url}/console/stacks", timeout=30).text
    assert bobs.get(f"{url}/console/stacks/{mine}", timeout=30).status_code == 404

    # A forged sign-out changes nothing; the page's own token signs out and clears the cookie.
    assert browser.post(f"{url}/console/signout", data={"csrf_token": "forged"}, timeout=30).status_code == 403
    csrf = CSRF.search(browser.get(f"{url}/console/stacks", timeout=30).text).group(1)
    out = browser.post(f"{url}/console/signout", data={"csrf_token": csrf}, allow_redirects=False, timeout=30)
    assert out.status_code == 303 and "hearth_console=;" in out.headers["Set-Cookie"]
    after = browser.get(f"{url}/console/stacks", allow_redirects=False, timeout=30)
    assert after.status_code == 302 and after.headers["Location"].endswith("/console/signin")


def test_a_revoked_token_ends_the_session(hearth):
    bob = other_project(hearth)
    browser = sign_in(hearth.url, bob)
    assert browser.get(f"{hearth.url}/console/stacks", timeout=30).status_code == 200
    tokens = hearth.http.get(f"{hearth.url}/admin/v1/tokens", params={"user": "bob"}, timeout=30).json()["tokens"]
    hearth.http.delete(f"{hearth.url}/admin/v1/tokens/{tokens[0]['id']}", timeout=30)
    page = browser.get(f"{hearth.url}/console/stacks", timeout=30)
    assert page.url.endswith("/console/signin?expired=1") and "expired or was revoked" in page.text


def test_the_cookie_authorised_stream_is_served_as_server_sent_events(hearth):
    browser = sign_in(hearth.url, ADMIN_TOKEN)
    hearth.create_stack("streamed", SECRET_TEMPLATE)
    with browser.get(
        f"{hearth.url}/console/stream/admin?since=0",
        headers={"Accept": "text/event-stream"},
        stream=True,
        timeout=30,
    ) as answer:
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/event-stream")
        lines = answer.iter_lines(decode_unicode=True)
        seen = wait_for(lambda: next(line for line in lines if line.startswith("event: ")), 30)
        assert seen == "event: CREATE_IN_PROGRESS"
    refused = requests.get(
        f"{hearth.url}/console/stream/admin", headers={"Accept": "text/event-stream"}, timeout=30, allow_redirects=False
    )
    assert refused.status_code == 302  # no session: to the sign-in page, no events


@pytest.mark.parametrize("on", [True, False])
def test_the_console_setting_turns_it_on_and_off(tmp_path, on):
    config = Config.from_env(
        {"HEARTH_CONSOLE": "yes" if on else "no"}, db_url=f"sqlite:///{tmp_path}/h.db", data_dir=str(tmp_path / "d")
    )
    app = create_app(config, start=False)
    try:
        answer = app.test_client().get("/console/signin")
        assert answer.status_code == (200 if on else 404)
        if on:  # the cookies are Secure when the page came over https, and only then
            assert "Secure" not in answer.headers["Set-Cookie"]
            over_tls = app.test_client().get("/console/signin", base_url="https://localhost")
            assert "; Secure" in over_tls.headers["Set-Cookie"] and "SameSite=Strict" in over_tls.headers["Set-Cookie"]
        assert (
            create_app(config, app.extensions["hearth"], guest=True, orchestration=False)
            .test_client()
            .get("/console/signin")
            .status_code
            == 404
        )  # never on a guest-only listener
    finally:
        app.extensions["hearth"].runtime.store.dispose()


def test_every_template_and_static_file_is_package_data():
    """A non-editable install carries the console's templates and static files."""
    import fnmatch
    import tomllib

    from tests.support import ROOT

    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    package = ROOT / "metadata_server"
    files = [p.relative_to(package).as_posix() for p in (package / "console").rglob("*") if p.is_file()]
    data = [f for f in files if not f.endswith(".py") and "__pycache__" not in f]
    assert {"console/static/console.js", "console/static/console.css", "console/templates/console/base.html"} <= set(
        data
    )
    for name in data:
        assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns["metadata_server"]), name


def test_no_template_holds_inline_script_style_or_handlers():
    """The Content-Security-Policy forbids them: anything inline would be dead in a browser."""
    from tests.support import ROOT

    folder = ROOT / "metadata_server" / "console" / "templates" / "console"
    for template in folder.glob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), template.name
        assert not re.search(r"<style\b|\sstyle=|\son[a-z]+=", text), template.name
