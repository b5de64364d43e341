"""`hearth keys rotate|reencrypt|prune`: touches this host's key file and its database directly
(engine.store.crypto and Store), never the API: the one `hearth` command that imports the store.

It rotates the installation keys of a Hearth on this host.

These act on the local installation (its key file and its database), not through the API:
they run where the server runs, as the user it runs as. Rotation takes three steps
(docs/operations.md, "Keys and secrets"): `rotate` puts a new key first, the server is
restarted so that it encrypts and signs with it, `reencrypt` moves every stored secret to it,
and `prune`, once every pre-signed URL signed with the old key has expired, removes the old key.
"""

from __future__ import annotations

import os

import click

from engine.config import Config
from engine.store import crypto

_DB = click.option(
    "--db",
    "db_url",
    envvar="HEARTH_DB_URL",
    default="",
    help="the store's SQLAlchemy URL (default: sqlite in the data dir)",
)
_DATA_DIR = click.option(
    "--data-dir",
    envvar="HEARTH_DATA_DIR",
    default="",
    help="the installation's data dir (default: ~/.local/state/hearth)",
)


def _config(db_url: str, data_dir: str) -> Config:
    return Config.from_env(db_url=db_url or None, data_dir=data_dir or None)


def _key_file_only(config: Config, step: str) -> None:
    """The key file steps make no sense when the keys come from HEARTH_SECRET_KEY."""
    if config.secret_key:
        raise click.ClickException(
            f"the keys come from HEARTH_SECRET_KEY, so '{step}' cannot change them: put a new key "
            "first in HEARTH_SECRET_KEY (comma-separated, newest first), restart the server, then "
            "run 'hearth keys reencrypt' with the same variable set"
        )


def _require_key_file(config: Config) -> None:
    path = os.path.join(config.resolved_data_dir, "secret.key")
    if not config.secret_key and not os.path.exists(path):
        raise click.ClickException(
            f"no key file at {path}: check --data-dir (HEARTH_DATA_DIR); the server creates it on its first start"
        )


@click.group("keys")
def keys() -> None:
    """Rotate the keys that encrypt stored secrets and sign pre-signed URLs."""


@keys.command("rotate")
@_DB
@_DATA_DIR
def rotate(db_url: str, data_dir: str) -> None:
    """Put a new key first in DATA_DIR/secret.key; the old keys stay to decrypt and verify."""
    config = _config(db_url, data_dir)
    _key_file_only(config, "rotate")
    _require_key_file(config)
    count = len(crypto.add_key(config.resolved_data_dir).split(","))
    click.echo(
        f"a new key is first in {config.resolved_data_dir}/secret.key ({count} keys). Restart "
        "the server so that it encrypts and signs with it, then run 'hearth keys reencrypt'."
    )


@keys.command("reencrypt")
@_DB
@_DATA_DIR
def reencrypt(db_url: str, data_dir: str) -> None:
    """Re-encrypt every stored secret with the newest key (run it with the server stopped)."""
    from engine.store.db import Store

    config = _config(db_url, data_dir)
    _require_key_file(config)
    keyring = crypto.Keyring(config.secret_key or crypto.load_or_create_key(config.resolved_data_dir))
    store = Store(config.resolved_db_url)
    try:
        count = crypto.reencrypt_all(store, keyring)
    finally:
        store.dispose()
    click.echo(f"re-encrypted {count} stored secrets with the newest key")


@keys.command("prune")
@_DB
@_DATA_DIR
@click.option("--yes", is_flag=True, help="confirm: pre-signed URLs signed with the old keys stop working")
def prune(db_url: str, data_dir: str, yes: bool) -> None:
    """Keep only the newest key. Run it after 'reencrypt' and once presigned_url_ttl has passed
    since the server started with the new key, or older pre-signed URLs are refused."""
    config = _config(db_url, data_dir)
    _key_file_only(config, "prune")
    _require_key_file(config)
    if not yes:
        raise click.ClickException(
            "pass --yes: secrets still encrypted with an old key become unreadable and URLs it signed are refused"
        )
    crypto.drop_old_keys(config.resolved_data_dir)
    click.echo(f"only the newest key is left in {config.resolved_data_dir}/secret.key; restart the server")
