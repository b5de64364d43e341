"""`hearth server`: runs this process as the server (HEARTH_* settings, listener threads,
SIGTERM/SIGINT handlers, stderr logs, NOTIFY_SOCKET); the engine it reaches via create_app.

`hearth server` (also installed as `hearth-server`): run Hearth on this host until stopped; and
`hearth server bootstrap`, which enrols a pre-provisioned machine with a running server.

Imported only when `hearth server` runs (metadata_server.cli names it); the server's own modules
(Flask, the engine, the store) are imported once the server starts, not for `bootstrap`, which
speaks to a running server over HTTP.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading

import click

from engine.cli.groups import HearthGroup


def parse_roles(text: str) -> tuple[str, ...]:
    """`api,guest` as ("api", "guest"); `all` is every role; a ValueError names an unknown one."""
    words = {word.strip() for word in text.split(",") if word.strip()} or {"all"}
    unknown = words - {"api", "guest", "engine", "all"}
    if unknown:
        raise ValueError(f"role must be api, guest, engine or all, comma-separated, not '{', '.join(sorted(unknown))}'")
    return ("api", "engine", "guest") if "all" in words else tuple(sorted(words))


def sd_notify(state: str) -> bool:
    """Tell systemd (Type=notify) about `state` when it started us with $NOTIFY_SOCKET; the
    datagram protocol is small enough that no library is needed. False when not under systemd."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address or address[0] not in "/@":
        return False
    if address[0] == "@":
        address = "\0" + address[1:]  # an abstract socket
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError as error:
        logging.getLogger(__name__).warning("cannot notify systemd at %s: %s", address, error)
        return False
    return True


@click.group(
    "server",
    cls=HearthGroup,
    invoke_without_command=True,
    lazy_commands={"bootstrap": "engine.cli.bootstrap:bootstrap"},
    subcommand_metavar="[COMMAND [ARGS]...]",
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--db",
    "db_url",
    envvar="HEARTH_DB_URL",
    default="",
    help="SQLAlchemy URL: sqlite:///file.db (default, in the data dir) or postgresql+psycopg://...",
)
@click.option(
    "--data-dir",
    envvar="HEARTH_DATA_DIR",
    default="",
    show_default=False,
    help="keys and local servers live here (default: ~/.local/state/hearth)",
)
@click.option("--host", envvar="HEARTH_HOST", default="127.0.0.1", show_default=True)
@click.option("--port", envvar="HEARTH_PORT", default=8004, show_default=True, type=int)
@click.option(
    "--public-url",
    envvar="HEARTH_PUBLIC_URL",
    default="",
    help="URL guests use to reach this server (default http://GUEST_LISTEN, else http://HOST:PORT)",
)
@click.option(
    "--compute",
    envvar="HEARTH_COMPUTE",
    default="local",
    show_default=True,
    type=click.Choice(["local", "deployed"]),
    help="what OS::Nova::Server is here",
)
@click.option(
    "--guest-listen",
    envvar="HEARTH_GUEST_LISTEN",
    default="",
    metavar="HOST:PORT",
    help="also listen here, serving only the guest API (the address instances reach)",
)
@click.option(
    "--guest-on-main",
    envvar="HEARTH_GUEST_ON_MAIN",
    default="yes",
    show_default=True,
    type=click.Choice(["yes", "no"]),
    help="serve the guest API on --host/--port too",
)
@click.option(
    "--workers",
    envvar="HEARTH_WORKERS",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="server processes, each a full replica under gunicorn's master (more than 1 needs PostgreSQL)",
)
@click.option(
    "--role",
    envvar="HEARTH_ROLE",
    default="all",
    show_default=True,
    help="what this replica does, comma-separated: api, guest, engine, or all",
)
@click.option("--log-level", default="INFO", show_default=True)
@click.option(
    "--admin-token",
    envvar="HEARTH_ADMIN_TOKEN",
    default="",
    show_default=False,
    help="register this token for the cloud admin (env HEARTH_ADMIN_TOKEN); without it "
    "the first start writes a random one to DATA_DIR/admin-token",
)
@click.pass_context
def server(
    ctx,
    db_url,
    data_dir,
    host,
    port,
    public_url,
    compute,
    guest_listen,
    guest_on_main,
    workers,
    role,
    log_level,
    admin_token,
):
    """Run the Hearth server (orchestration API, guest API and engine) until SIGINT/SIGTERM.

    With --guest-listen the guest API is also served on an address of its own, which is then
    the address guests are given; --guest-on-main no keeps it off the main listener.

    With --workers N, gunicorn's master keeps N worker processes on the same sockets, each a
    full replica with its own engine (PostgreSQL only); HUP restarts them one by one. With
    --role the replica serves only some of the orchestration API (api), the guest API (guest)
    and the engine (engine); an engine-only replica answers only GET /healthz and /metrics on its port.

    With a subcommand (`hearth server bootstrap ...`) the server is not run: the subcommand
    speaks to a running one over HTTP.
    """
    if ctx.invoked_subcommand is not None:
        return
    if workers > 1:
        from metadata_server.replicas import share_metrics

        share_metrics()  # before anything defines the engine's metrics: they must know they are shared
    from engine.config import BOOLEAN_WORDS, Config
    from metadata_server.serving import Listener, bind, parse_address, serve_all, shutdown_all

    logging.basicConfig(
        level=log_level.upper(), stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # One line per request of thousands of agents: an operator turns it on with --log-level DEBUG.
    logging.getLogger("hearth.access").setLevel(logging.DEBUG if log_level.upper() == "DEBUG" else logging.WARNING)
    from engine.service import LogRedactor

    for handler in logging.getLogger().handlers:
        handler.addFilter(LogRedactor())  # no log line carries a secret the engine has handled
    try:
        config = Config.from_env(
            db_url=db_url or None,
            data_dir=data_dir or None,
            host=host,
            port=port,
            public_url=public_url or None,
            compute=compute,
            guest_listen=guest_listen or None,
            guest_on_main=BOOLEAN_WORDS[guest_on_main],
            workers=workers,
            role=role,
        )
        guest_address = parse_address(config.guest_listen) if config.guest_listen else None
        roles = parse_roles(config.role)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    if not config.guest_on_main and guest_address is None:
        raise click.UsageError("--guest-on-main no needs --guest-listen HOST:PORT: guests would have no listener")
    if config.workers > 1 and config.resolved_db_url.startswith("sqlite"):
        raise click.UsageError(
            f"--workers {config.workers} needs PostgreSQL (--db postgresql+psycopg://...): each worker is a "
            "replica with its own engine, and a SQLite file takes one process; run one worker on SQLite"
        )
    if config.workers > 1:
        from metadata_server.replicas import run_workers

        run_workers(config, roles, admin_token or None, guest_address, sd_notify)
        click.echo("hearth server stopped", err=True)
        return
    from engine.service import EngineLocked
    from metadata_server.replicas import build_replica

    try:
        service, front, guest_front = build_replica(config, roles, admin_token or None, guest_address)
    except EngineLocked as error:  # another `hearth server` drives this SQLite file
        raise click.ClickException(str(error)) from None
    listeners = [Listener(bind(host, port), front)]
    if guest_front is not None and guest_address is not None:
        listeners.append(Listener(bind(*guest_address), guest_front))
    stop = threading.Event()

    def shutdown(signum, _frame):
        if not stop.is_set():
            stop.set()
            sd_notify("STOPPING=1")
            threading.Thread(target=shutdown_all, args=(listeners,), daemon=True).start()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    db = config.resolved_db_url.split("@")[-1]
    main_port = listeners[0].server_port
    click.echo(
        f"hearth server listening on http://{host}:{main_port} (store: {db}, "
        f"compute: {compute}, data: {config.resolved_data_dir}, roles: {','.join(roles)})",
        err=True,
    )
    if len(listeners) > 1 and guest_address is not None:
        click.echo(
            f"guest API listening on http://{guest_address[0]}:{listeners[1].server_port}"
            f" (also on the main listener: {'yes' if config.guest_on_main else 'no'}; guests are given "
            f"{config.resolved_public_url})",
            err=True,
        )
    from metadata_server import collector

    collector.install(config.gc_full_seconds)
    # The sockets are bound and the engine started: systemd may now start what depends on us.
    sd_notify(f"READY=1\nSTATUS=listening on {host}:{main_port}")
    try:
        serve_all(listeners)
    finally:
        service.stop()
        for each in listeners:
            each.server_close()
        click.echo("hearth server stopped", err=True)
