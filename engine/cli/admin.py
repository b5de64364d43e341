"""`hearth admin ...`: speaks HTTP only, through the context's HearthClient, to the admin API
(`/admin/v1/`, cloud admins only); reads a password from stdin or the terminal when asked.

Projects, users, roles, API tokens, delegations and the audit log.
"""

from __future__ import annotations

import sys

import click

from engine.cli.client import segment
from engine.cli.formatting import emit, format_options, render_record, render_rows

PROJECT_COLUMNS = ["id", "name", "created_at"]
USER_COLUMNS = ["id", "name", "roles", "password", "created_at", "disabled_at"]
TOKEN_COLUMNS = ["id", "user", "name", "created_at", "expires_at", "revoked_at", "last_used_at"]
DELEGATION_COLUMNS = ["id", "user", "project", "stack_id", "role", "created_at", "revoked_at"]
AUDIT_COLUMNS = ["id", "at", "actor", "action", "subject", "outcome", "remote_addr", "detail"]
ROLE = click.Choice(["admin", "member", "reader"])


@click.group()
def admin():
    """Manage projects, users, roles, tokens and delegations; read the audit log (cloud admin)."""


# Projects ---------------------------------------------------------------------------------


@admin.group()
def project():
    """Projects (tenants): every stack belongs to one."""


@project.command("create")
@click.argument("name")
@format_options()
@click.pass_obj
def project_create(conn, name, fmt, columns):
    """Create project NAME (its id is its name)."""
    answer = conn.client.admin("POST", "projects", body={"name": name})["project"]
    emit(render_record(answer, PROJECT_COLUMNS, fmt, columns))


@project.command("list")
@format_options()
@click.pass_obj
def project_list(conn, fmt, columns):
    emit(render_rows(conn.client.admin("GET", "projects")["projects"], PROJECT_COLUMNS, fmt, columns))


@project.command("delete")
@click.argument("name")
@click.pass_obj
def project_delete(conn, name):
    """Delete project NAME (it must have no stacks left)."""
    conn.client.admin("DELETE", f"projects/{segment(name)}")


# Users and roles --------------------------------------------------------------------------


@admin.group()
def user():
    """Users: each has a role per project and any number of tokens."""


def password_options(command):
    """--password-prompt / --password-stdin: never a password on the command line, where
    other users of the machine could read it in the process list."""
    command = click.option(
        "--password-stdin", is_flag=True, help="Read the password from the first line of standard input."
    )(command)
    return click.option("--password-prompt", is_flag=True, help="Ask for the password (twice) on the terminal.")(
        command
    )


def read_password(prompt: bool, stdin: bool) -> str | None:
    if stdin:
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else line
    if prompt:
        return click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    return None


@user.command("create")
@click.argument("name")
@password_options
@format_options()
@click.pass_obj
def user_create(conn, name, password_prompt, password_stdin, fmt, columns):
    """Create user NAME; with a password it can also sign in at /identity/v3 (openstack CLI,
    clouds.yaml, python-heatclient), in domain Default."""
    body = {"name": name}
    password = read_password(password_prompt, password_stdin)
    if password is not None:
        body["password"] = password
    answer = conn.client.admin("POST", "users", body=body)["user"]
    emit(render_record(answer, USER_COLUMNS, fmt, columns))


@user.command("set-password")
@click.argument("name")
@password_options
@click.option("--clear", is_flag=True, help="Remove the password: the user can no longer sign in with one.")
@click.pass_obj
def user_set_password(conn, name, password_prompt, password_stdin, clear):
    """Set (or with --clear remove) the password USER NAME signs in with at /identity/v3.
    The server keeps only its scrypt hash; the user's signed-in tokens are revoked. Without
    --password-stdin the password is asked for on the terminal."""
    if clear:
        conn.client.admin("DELETE", f"users/{segment(name)}/password")
        return
    password = read_password(not password_stdin, password_stdin)
    conn.client.admin("PUT", f"users/{segment(name)}/password", body={"password": password})


@user.command("list")
@format_options()
@click.pass_obj
def user_list(conn, fmt, columns):
    emit(render_rows(conn.client.admin("GET", "users")["users"], USER_COLUMNS, fmt, columns))


@user.command("delete")
@click.argument("name")
@click.pass_obj
def user_delete(conn, name):
    """Delete user NAME; its tokens and delegations are revoked."""
    conn.client.admin("DELETE", f"users/{segment(name)}")


@admin.group()
def role():
    """Roles: reader (may read), member (may change stacks), admin (everything in the project)."""


def _role_path(user_name: str, project_name: str, role_name: str) -> str:
    return f"projects/{segment(project_name)}/users/{segment(user_name)}/roles/{segment(role_name)}"


@role.command("add")
@click.argument("user_name", metavar="USER")
@click.argument("project_name", metavar="PROJECT")
@click.argument("role_name", metavar="ROLE", type=ROLE)
@click.pass_obj
def role_add(conn, user_name, project_name, role_name):
    """Give USER the ROLE in PROJECT (replacing its role there, if any)."""
    conn.client.admin("PUT", _role_path(user_name, project_name, role_name))


@role.command("remove")
@click.argument("user_name", metavar="USER")
@click.argument("project_name", metavar="PROJECT")
@click.argument("role_name", metavar="ROLE", type=ROLE)
@click.pass_obj
def role_remove(conn, user_name, project_name, role_name):
    conn.client.admin("DELETE", _role_path(user_name, project_name, role_name))


# Tokens -----------------------------------------------------------------------------------


@admin.group()
def token():
    """API tokens: sent as X-Auth-Token; stored by the server only as a hash."""


@token.command("create")
@click.argument("user_name", metavar="USER")
@click.option("--name", default="", help="A label to tell the token apart in lists.")
@click.option(
    "--expires-in",
    type=click.IntRange(min=1),
    default=None,
    metavar="SECONDS",
    help="Lifetime in seconds (default: until revoked).",
)
@click.pass_obj
def token_create(conn, user_name, name, expires_in):
    """Create a token for USER and print it: this is the only time it is shown."""
    body = {"user": user_name, "name": name}
    if expires_in is not None:
        body["expires_in"] = expires_in
    answer = conn.client.admin("POST", "tokens", body=body)["token"]
    click.echo(f"token id: {answer['id']}", err=True)
    click.echo(answer["token"])


@token.command("list")
@click.option("--user", "user_name", default=None, help="Only this user's tokens.")
@format_options()
@click.pass_obj
def token_list(conn, user_name, fmt, columns):
    params = {"user": user_name} if user_name else None
    emit(render_rows(conn.client.admin("GET", "tokens", params=params)["tokens"], TOKEN_COLUMNS, fmt, columns))


@token.command("revoke")
@click.argument("token_id", metavar="TOKEN_ID")
@click.pass_obj
def token_revoke(conn, token_id):
    conn.client.admin("DELETE", f"tokens/{segment(token_id)}")


# Delegations and audit --------------------------------------------------------------------


@admin.group()
def delegation():
    """Delegations (Heat's trusts): what the engine may do later on a user's behalf."""


@delegation.command("list")
@click.option("--stack-id", default=None, help="Only this stack's delegations.")
@format_options()
@click.pass_obj
def delegation_list(conn, stack_id, fmt, columns):
    params = {"stack_id": stack_id} if stack_id else None
    rows = conn.client.admin("GET", "delegations", params=params)["delegations"]
    emit(render_rows(rows, DELEGATION_COLUMNS, fmt, columns))


@delegation.command("revoke")
@click.argument("delegation_id", metavar="DELEGATION_ID")
@click.pass_obj
def delegation_revoke(conn, delegation_id):
    """Revoke a delegation: work the engine resumes for its stack later fails instead."""
    conn.client.admin("DELETE", f"delegations/{segment(delegation_id)}")


@admin.group()
def audit():
    """The audit log: authentication failures and credential life cycles."""


@audit.command("list")
@click.option("--action", default=None, help="Only events of this action (e.g. auth.failed).")
@click.option("--limit", type=click.IntRange(min=1, max=1000), default=100, show_default=True)
@click.option("--since", default=None, metavar="TIME", help="Only events at or after this ISO 8601 time.")
@format_options()
@click.pass_obj
def audit_list(conn, action, limit, since, fmt, columns):
    """The newest events first."""
    params = {"limit": limit, **({"action": action} if action else {}), **({"since": since} if since else {})}
    emit(render_rows(conn.client.admin("GET", "audit", params=params)["events"], AUDIT_COLUMNS, fmt, columns))
