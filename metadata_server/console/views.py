"""The console's routes under /console/ (docs/console.md): sign in and out, stacks, a stack's
graph, events, deployments, agents, facts and latest change; each view reads the cookie's
session, calls `engine.service` parts as the REST API does, and renders a template.

A session is checked on every request with the same authentication and authorisation as the
orchestration API (`service().admin`), for the cookie's project, read-only; a stack outside
that project is not found (404 page). POSTs carry a CSRF token (session.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, Response, abort, g, jsonify, make_response, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from engine.errors import Forbidden, HearthError, NotFound, Unauthorized
from engine.service import Principal
from metadata_server.console import graph, session as sessions
from metadata_server.console.changes import convergence_for_console
from metadata_server.requests_ import integer_arg, service

blueprint = Blueprint("console", __name__, url_prefix="/console", template_folder="templates", static_folder="static")
# Endpoints a visitor without a session may reach (sign-out checks its own CSRF token).
PUBLIC = {"console.signin_form", "console.signin", "console.signout", "console.static"}
EVENTS_SHOWN = 50
SECURITY_HEADERS = {
    # No inline script or style: the console's JS and CSS are static files of this origin.
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@dataclass(frozen=True)
class Context:
    """The signed-in console of one request: `project` is what it shows."""

    project: str
    principal: Principal
    csrf: str


@blueprint.before_request
def load_session():
    if request.endpoint in PUBLIC:
        return None
    found = sessions.parse(request.cookies.get(sessions.COOKIE))
    if found is None:
        return redirect(url_for("console.signin_form"))
    try:
        principal = _authenticated(found)
    except (Unauthorized, Forbidden):
        return redirect(url_for("console.signin_form", expired=1))
    g.console = Context(found.project, principal, sessions.csrf_token(service().runtime.keyring, found))
    return None


def _authenticated(found: sessions.Session) -> Principal:
    admin = service().admin
    principal = admin.authenticate(found.token)
    admin.authorize(principal, found.project, "GET")
    return principal


@blueprint.after_request
def secure(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    if request.endpoint != "console.static":
        response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.context_processor
def console_context() -> dict:
    return {"console": g.get("console"), "tone": graph.tone}


@blueprint.errorhandler(HearthError)
def hearth_error(error: HearthError):
    return render_template("console/error.html", status=error.status, message=error.message), error.status


@blueprint.errorhandler(HTTPException)
def web_error(error: HTTPException):
    status = error.code or 500
    return render_template("console/error.html", status=status, message=error.description), status


# Signing in and out ----------------------------------------------------------------------
@blueprint.get("/signin")
def signin_form():
    message = (
        "Your session ended: the token expired or was revoked. Sign in again." if request.args.get("expired") else None
    )
    return _signin_page(message, 200)


@blueprint.post("/signin")
def signin():
    if not sessions.signin_ok(request.cookies.get(sessions.SIGNIN_COOKIE), request.form.get("csrf_token")):
        return _signin_page("The form expired or did not come from this console. Try again.", 400)
    token, project = request.form.get("token", "").strip(), request.form.get("project", "").strip()
    admin = service().admin
    try:
        principal = admin.authenticate(token)
        project = project or _default_project(principal)
        admin.authorize(principal, project, "GET")
    except (Unauthorized, Forbidden) as error:
        # Audited as the API's refusals are (metadata_server/orchestration_auth.py), never with the token.
        if isinstance(error, Unauthorized):
            admin.record_refused(
                "auth.failed", admin.token_actor(token), "POST /console/signin", error, request.remote_addr
            )
        else:
            admin.record_refused(
                "auth.forbidden", f"token:{principal.token_id}", "POST /console/signin", error, request.remote_addr
            )
        return _signin_page(_refusal(error, project), 401 if isinstance(error, Unauthorized) else 403)
    response = redirect(url_for("console.stacks"), code=303)
    found = sessions.Session(project, token)
    response.set_cookie(sessions.COOKIE, found.cookie, **sessions.cookie_options(request.is_secure))
    response.delete_cookie(sessions.SIGNIN_COOKIE, path=sessions.PATH)
    return response


@blueprint.post("/signout")
def signout():
    found = sessions.parse(request.cookies.get(sessions.COOKIE))
    if not sessions.csrf_ok(service().runtime.keyring, found, request.form.get("csrf_token")):
        abort(403, "The sign-out form did not come from this console.")
    response = redirect(url_for("console.signin_form"), code=303)
    response.delete_cookie(sessions.COOKIE, path=sessions.PATH, httponly=True, samesite="Strict")
    return response


def _signin_page(message: str | None, status: int):
    nonce = sessions.new_signin_nonce()
    page = render_template("console/signin.html", message=message, nonce=nonce, project=request.form.get("project", ""))
    response = make_response(page, status)
    response.set_cookie(sessions.SIGNIN_COOKIE, nonce, **sessions.cookie_options(request.is_secure))
    return response


def _default_project(principal: Principal) -> str:
    """The project to show when the form names none: the user's only one, else `admin` for the
    cloud admin."""
    if len(principal.roles) == 1:
        return next(iter(principal.roles))
    if principal.cloud_admin:
        return "admin"
    raise Forbidden("this token's user has roles in several projects: name the project to show")


def _refusal(error: HearthError, project: str) -> str:
    if isinstance(error, Unauthorized):
        return "That token is unknown, expired or revoked. Check it and sign in again."
    return f"That token cannot read project '{project}': {error.message}" if project else error.message


# Pages ----------------------------------------------------------------------------------
@blueprint.get("/")
def index():
    return redirect(url_for("console.stacks"))


@blueprint.get("/stacks")
def stacks():
    project = g.console.project
    listed = service().stacks.list_stacks(project, filters={"sort_keys": "stack_name"})
    return render_template("console/stacks.html", stacks=listed, latest=_latest_event(project))


@blueprint.get("/stacks/<stack_id>")
def stack(stack_id: str):
    project, parts = g.console.project, service()
    shown = parts.stacks.show_stack(project, stack_id)
    resources = parts.resources.list_resources(project, stack_id)
    events = parts.resources.list_events(project, stack_id, sort_dir="desc", limit=EVENTS_SHOWN)
    return render_template(
        "console/stack.html",
        stack=shown,
        resources=resources,
        layout=graph.layout(resources),
        nested={r["resource_name"]: graph.nested_id(r) for r in resources},
        events=events,
        latest=_latest_event(project),
    )


@blueprint.get("/stacks/<stack_id>/deployments")
def deployments(stack_id: str):
    project, parts = g.console.project, service()
    shown = parts.stacks.show_stack(project, stack_id, resolve_outputs=False)
    servers = parts.servers.stack_servers(project, stack_id)
    by_server: dict[str, list[dict]] = {}
    for deployment in parts.servers.stack_deployments(project, stack_id):
        by_server.setdefault(deployment["server_id"], []).append(deployment)
    try:
        facts = parts.facts.list_facts(project, stack_id)["facts"]
    except NotFound:  # a deleted stack has no facts
        facts = []
    return render_template(
        "console/deployments.html",
        stack=shown,
        servers=servers,
        by_server=by_server,
        facts=facts,
        latest=_latest_event(project),
    )


@blueprint.get("/stacks/<stack_id>/changes")
def changes(stack_id: str):
    shown = service().stacks.show_stack(g.console.project, stack_id, resolve_outputs=False)
    change = convergence_for_console(service(), g.console, stack_id, request.args.get("operation") or None)
    return render_template("console/changes.html", stack=shown, change=change, latest=_latest_event(g.console.project))


@blueprint.get("/stream/<project>")
def event_stream(project: str):
    """The project's event stream for the console's EventSource, authorised by the cookie: the
    ASGI front serves `Accept: text/event-stream` on it as on /v1/<project>/events
    (metadata_server/event_stream.py), asking this route for each read."""
    if project != g.console.project:
        raise NotFound("no such stream")
    return jsonify(service().events.read(project, since=integer_arg("since", 0), limit=integer_arg("limit", None)))


@blueprint.get("/<path:anything>")
def unknown(anything: str):
    raise NotFound("There is no such page in the console.")


def _latest_event(project: str) -> int:
    """The project's newest event number: the page's live updates begin after it."""
    return int(service().events.read(project, since=0, limit=1)["latest"])
