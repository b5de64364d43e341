"""`hearth` (the client commands plus `hearth server`) and `hearth-server`: run Hearth on this host."""
from __future__ import annotations

import logging
import signal
import sys
import threading

import click

from engine.cli import cli
from engine.config import Config


@click.command("server")
@click.option("--db", "db_url", envvar="HEARTH_DB_URL", default="",
              help="SQLAlchemy URL: sqlite:///file.db (default, in the data dir) or postgresql+psycopg://...")
@click.option("--data-dir", envvar="HEARTH_DATA_DIR", default="", show_default=False,
              help="keys and local servers live here (default: ~/.local/state/hearth)")
@click.option("--host", envvar="HEARTH_HOST", default="127.0.0.1", show_default=True)
@click.option("--port", envvar="HEARTH_PORT", default=8004, show_default=True, type=int)
@click.option("--public-url", envvar="HEARTH_PUBLIC_URL", default="",
              help="URL guests use to reach this server (default http://HOST:PORT)")
@click.option("--compute", envvar="HEARTH_COMPUTE", default="local", show_default=True,
              type=click.Choice(["local", "deployed"]), help="what OS::Nova::Server is here")
@click.option("--log-level", default="INFO", show_default=True)
def server(db_url, data_dir, host, port, public_url, compute, log_level):
    """Run the Hearth server (orchestration API, guest API and engine) until SIGINT/SIGTERM."""
    from metadata_server.serving import listen

    from metadata_server import create_app

    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    try:
        config = Config.from_env(db_url=db_url or None, data_dir=data_dir or None, host=host, port=port,
                                 public_url=public_url or None, compute=compute)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    app = create_app(config)
    service = app.extensions["hearth"]
    httpd = listen(host, port, app)
    stop = threading.Event()

    def shutdown(signum, _frame):
        if not stop.is_set():
            stop.set()
            threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    db = config.resolved_db_url.split("@")[-1]
    click.echo(f"hearth server listening on http://{host}:{httpd.server_port} (store: {db}, "
               f"compute: {compute}, data: {config.resolved_data_dir})", err=True)
    try:
        httpd.serve_forever()
    finally:
        service.stop()
        httpd.server_close()
        click.echo("hearth server stopped", err=True)


cli.add_command(server)


def main() -> None:
    cli()


def serve_main() -> None:
    server()
