"""`hearth server bootstrap SERVER`: speaks HTTP through a Connection (the global options', else
one from HEARTH_* variables); reads the packaged cloud-init template; writes no files.

It prints what enrols a pre-provisioned machine, as a shell one-liner, cloud-init user-data or
the bare bootstrap document.

The document carries a new credential scoped to that one server (issued by
`POST /v1/{project}/servers/{id}/bootstrap`). The one-liner and the user-data carry it base64
encoded, so no character of the JSON or of the path can break their quoting.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import string
import sys
from pathlib import Path

import click

from engine.cli import DEFAULT_URL
from engine.cli.client import ApiError, CliError, segment
from engine.cli.connection import ClientOptions, Connection

DEFAULT_PATH = "/etc/hearth/bootstrap.json"
UNIT = "hearth-agent.service"
TEMPLATE = "hearth-agent.yaml.tmpl"
FORMATS = ("oneline", "cloud-init", "json")
SERVER_TYPES = ("OS::Heat::DeployedServer", "OS::Nova::Server")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


# Rendering (pure, apart from reading the one template) ------------------------------------


def template_path() -> Path:
    """The cloud-init template: the source tree's copy, else the one a wheel installs under
    `<prefix>/share/hearth/cloud-init/` (the same pattern as the hooks)."""
    candidates = (
        Path(__file__).resolve().parents[2] / "packaging" / "cloud-init" / TEMPLATE,
        Path(sys.prefix) / "share" / "hearth" / "cloud-init" / TEMPLATE,
    )
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise CliError(
        f"the cloud-init template {TEMPLATE} is not installed (looked in "
        + ", ".join(str(c.parent) for c in candidates)
        + ")"
    )


def encoded(document: dict) -> str:
    return base64.b64encode(json.dumps(document, indent=2).encode() + b"\n").decode("ascii")


def _checked(document: dict, path: str) -> None:
    if not os.path.isabs(path) or "\n" in path or "\0" in path:
        raise CliError(f"--path must be an absolute path on one line, not {path!r}")
    if not _SAFE_ID.match(str(document.get("server_id", ""))):
        raise CliError("the server answered with an unexpected server id; is this a Hearth server?")


def render_oneline(document: dict, path: str = DEFAULT_PATH, sudo: bool = True) -> str:
    """One shell command: decode the document into `path` atomically with mode 0600 (in a
    directory made 0700 if missing), then enable the agent and start it, or make a running one
    re-read the document (its unit's reload is SIGHUP)."""
    _checked(document, path)
    target, folder = shlex.quote(path), shlex.quote(os.path.dirname(path))
    script = (
        f"set -e; umask 077; mkdir -p {folder}; t=$(mktemp {folder}/.bootstrap.XXXXXX); "
        'trap \'rm -f "$t"\' EXIT; base64 -d > "$t"; chmod 600 "$t"; '
        f'mv -f "$t" {target}; systemctl enable {UNIT}; systemctl reload-or-restart {UNIT}'
    )
    runner = "sudo sh -c" if sudo else "sh -c"
    return f"printf '%s' '{encoded(document)}' | {runner} {shlex.quote(script)}"


def render_cloud_init(document: dict, path: str = DEFAULT_PATH) -> str:
    """`#cloud-config` user-data from packaging/cloud-init/hearth-agent.yaml.tmpl."""
    _checked(document, path)
    text = template_path().read_text(encoding="utf-8")
    # JSON strings are valid YAML double-quoted scalars, whatever the path holds.
    return string.Template(text).substitute(
        server_id=document["server_id"], path=json.dumps(path), bootstrap_b64=encoded(document)
    )


def render(document: dict, form: str, path: str = DEFAULT_PATH, sudo: bool = True) -> str:
    if form == "json":
        return json.dumps(document, indent=2)
    if form == "cloud-init":
        return render_cloud_init(document, path).rstrip("\n")
    return render_oneline(document, path, sudo)


# The command ------------------------------------------------------------------------------


def resolve_server(client, server: str, stack: str | None) -> str:
    """The server id: SERVER itself, or the physical id of resource SERVER in STACK."""
    if stack is None:
        return server
    found = client.get_stack(stack)
    resource = client.get_resource(found, server)
    kind = resource.get("resource_type", "")
    if kind not in SERVER_TYPES:
        raise CliError(
            f"resource '{server}' of stack '{found['stack_name']}' is a {kind}, not "
            "a server: name an OS::Heat::DeployedServer resource"
        )
    physical = resource.get("physical_resource_id")
    if not physical:
        status = resource.get("resource_status", "unknown")
        raise CliError(
            f"resource '{server}' of stack '{found['stack_name']}' has no server yet "
            f"(status {status}); wait until it is created"
        )
    return physical


def _connection(ctx: click.Context):
    """The `hearth` group's connection; under the `hearth-server` entry point there is none,
    so the same environment variables decide."""
    found = ctx.find_object(Connection)
    if found is not None:
        return found
    options = ctx.obj if isinstance(ctx.obj, ClientOptions) else ClientOptions()
    return Connection(
        ctx,
        os.environ.get("HEARTH_URL", DEFAULT_URL),
        os.environ.get("HEARTH_PROJECT", "admin"),
        os.environ.get("HEARTH_TOKEN"),
        30.0,
        options,
    )


@click.command("bootstrap")
@click.argument("server")
@click.option("--stack", default=None, help="SERVER is a resource name in this stack (name or id).")
@click.option(
    "--format",
    "-f",
    "form",
    type=click.Choice(FORMATS),
    default="oneline",
    show_default=True,
    help="a shell command, #cloud-config user-data, or the document",
)
@click.option(
    "--path",
    default=DEFAULT_PATH,
    show_default=True,
    help="where the document is written on the machine (the unit reads the default)",
)
@click.option("--sudo/--no-sudo", default=True, show_default=True, help="oneline: run the privileged part through sudo")
@click.option(
    "--revoke-previous",
    is_flag=True,
    help="also revoke the credentials issued to this server before (an enrolled "
    "agent then loses access until it gets the new document)",
)
@click.option(
    "--new",
    "new",
    is_flag=True,
    help="SERVER is an id no server has yet (one that deployments name): enrol the machine under it, outside any stack",
)
@click.pass_context
def bootstrap(ctx, server, stack, form, path, sudo, revoke_previous, new):
    """Print what enrols the machine behind SERVER (an OS::Heat::DeployedServer).

    With --new, SERVER is an id of your choosing (up to 36 letters, digits, '.', '_', '-'):
    the machine becomes a server of the project under that id and runs the deployments that
    name it, made before or after. Each run issues a new credential for that server alone;
    earlier ones stay valid unless --revoke-previous is given. The output is a secret: hand
    it to the machine only.
    """
    if new and stack is not None:
        raise CliError("--new takes an id of your choosing, not a resource of a stack: drop --stack")
    client = _connection(ctx).client
    server_id = resolve_server(client, server, stack)
    body = {"revoke_previous": revoke_previous, **({"new": True} if new else {})}
    try:
        answer = client.request("POST", f"servers/{segment(server_id)}/bootstrap", body=body)
    except ApiError as error:
        if error.status == 404 and stack is not None:
            raise CliError(f"resource '{server}' of stack '{stack}': {error.message}") from None
        raise
    if not isinstance(answer, dict) or not isinstance(answer.get("bootstrap"), dict):
        raise CliError("the server's bootstrap answer has no 'bootstrap' document")
    click.echo(render(answer["bootstrap"], form, path, sudo))
    earlier = "revoked" if revoke_previous else "still valid"
    click.echo(
        f"# server {server_id}: new credential valid until {answer.get('expires_at')}; earlier credentials {earlier}",
        err=True,
    )
