"""Secrets at rest: owns `<data_dir>/secret.key` (created, rotated, pruned here) and the Keyring;
touches the database only in `reencrypt_all`, through the Store it is given.

Fernet encryption of stored secrets and SHA-256 hashing of guest credentials.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, MultiFernet

from engine.store.files import create_private, write_private

if TYPE_CHECKING:
    from engine.store.db import Store

ENCRYPTED = "__hearth_encrypted__"


def is_encrypted(value: Any) -> bool:
    return isinstance(value, dict) and ENCRYPTED in value


def new_secret(prefix: str = "") -> str:
    """A random credential with 256 bits of entropy."""
    return prefix + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def load_or_create_key(data_dir: str) -> str:
    """The installation keys from `<data_dir>/secret.key` (one per line, newest first), joined
    with commas as Keyring takes them; the file is created (0600) with one key on first start."""
    path = Path(data_dir) / "secret.key"
    if not path.exists():
        create_private(path, _new_key() + "\n")  # False: another process made it first; read theirs
    return ",".join(line.strip() for line in path.read_text().splitlines() if line.strip())


def add_key(data_dir: str) -> str:
    """Put a new key first in `<data_dir>/secret.key` (the old ones stay, to decrypt) and
    return the file's keys, comma-joined. Written atomically: a crash leaves the old file."""
    path = Path(data_dir) / "secret.key"
    old = load_or_create_key(data_dir).split(",") if path.exists() else []
    keys = [_new_key()] + old
    write_private(path, "\n".join(keys) + "\n")
    return ",".join(keys)


def drop_old_keys(data_dir: str) -> str:
    """Keep only the newest key in `<data_dir>/secret.key` (after `reencrypt_all`)."""
    newest = load_or_create_key(data_dir).split(",")[0]
    path = Path(data_dir) / "secret.key"
    write_private(path, newest + "\n")
    return newest


class Keyring:
    """Derives an encryption key and a signing key from the installation secret(s).

    `secret` may hold several comma-separated secrets: the first encrypts and signs, all
    decrypt (key rotation: put the new secret first, keep the old one until data is re-encrypted).
    """

    def __init__(self, secret: str | list[str]):
        raw = secret.split(",") if isinstance(secret, str) else list(secret)
        parts = [p.strip() for p in raw if p and p.strip()]
        if not parts:
            raise ValueError(
                "an installation secret is required: set HEARTH_SECRET_KEY or let Hearth create <data_dir>/secret.key"
            )
        self._fernet = MultiFernet([Fernet(self._derive(p, b"encrypt")) for p in parts])
        # Every key verifies, so URLs signed before a rotation keep working until they expire.
        self._signing_keys = [hashlib.sha256(b"sign:" + p.encode()).digest() for p in parts]
        self._signing = self._signing_keys[0]

    @staticmethod
    def _derive(secret: str, purpose: bytes) -> bytes:
        return base64.urlsafe_b64encode(hashlib.sha256(purpose + b":" + secret.encode()).digest())

    def encrypt(self, plaintext: str) -> dict[str, str]:
        return {ENCRYPTED: self._fernet.encrypt(plaintext.encode()).decode()}

    def decrypt(self, value: Any) -> str:
        if isinstance(value, dict) and ENCRYPTED in value:
            return self._fernet.decrypt(value[ENCRYPTED].encode()).decode()
        # Not sealed: passed back as it is (callers hand over sealed values or text).
        return value  # type: ignore[no-any-return]

    def rotate(self, value: Any) -> Any:
        """`value` re-encrypted under the newest key (MultiFernet.rotate); anything else as is."""
        if isinstance(value, dict) and ENCRYPTED in value:
            return {ENCRYPTED: self._fernet.rotate(value[ENCRYPTED].encode()).decode()}
        return value

    def seal_json(self, value: Any) -> dict[str, str]:
        """Any JSON value encrypted (its JSON text), as hidden parameters are stored."""
        return self.encrypt(json.dumps(value))

    def open_json(self, value: Any) -> Any:
        """The inverse of seal_json; a value that is not sealed is returned unchanged."""
        return json.loads(self.decrypt(value)) if is_encrypted(value) else value

    def sign(self, message: str) -> str:
        return self._sign_with(self._signing, message)

    def sign_all(self, message: str) -> list[str]:
        """`message` signed with every key, newest first: for secrets derived from the keys that
        must keep working across a rotation (a Swift account's temp URL key, engine/guest/transports/temp_url.py)."""
        return [self._sign_with(key, message) for key in self._signing_keys]

    def verify(self, message: str, signature: str) -> bool:
        # Compared as bytes: compare_digest refuses str with non-ASCII characters, and a
        # signature comes from a URL anyone can type.
        given = (signature or "").encode("utf-8", "replace")
        return any(hmac.compare_digest(self._sign_with(key, message).encode(), given) for key in self._signing_keys)

    @staticmethod
    def _sign_with(key: bytes, message: str) -> str:
        digest = hmac.new(key, message.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def rotate_tree(keyring: Keyring, node: Any) -> tuple[Any, int]:
    """`node` with every sealed value inside re-encrypted under the newest key, and their count."""
    if is_encrypted(node):
        return keyring.rotate(node), 1
    if isinstance(node, dict):
        count, out = 0, {}
        for key, value in node.items():
            out[key], found = rotate_tree(keyring, value)
            count += found
        return out, count
    if isinstance(node, list):
        count, items = 0, []
        for value in node:
            item, found = rotate_tree(keyring, value)
            items.append(item)
            count += found
        return items, count
    return node, 0


def reencrypt_all(store: Store, keyring: Keyring) -> int:
    """Re-encrypt every sealed value in every JSON column of the store under the keyring's
    newest key; return how many were re-encrypted. Run it with the server stopped, after
    putting a new key first (a row the server rewrote between our read and our write would
    lose that write). Tables are walked generically, so a new JSON column is covered too.
    Pre-signed URLs are signed, not encrypted: they stay valid only while their key is kept."""
    from sqlalchemy import JSON, inspect, select, update

    from engine.store.models import Base

    present = set(inspect(store.engine).get_table_names())
    total = 0
    for table in Base.metadata.sorted_tables:
        if table.name not in present:  # a store not migrated to the newest models yet
            continue
        existing = {c["name"] for c in inspect(store.engine).get_columns(table.name)}
        columns = [c for c in table.columns if isinstance(c.type, JSON) and c.name in existing]
        keys = list(table.primary_key.columns)
        if not columns or not keys:
            continue
        with store.session() as session:
            for row in session.execute(select(*keys, *columns)).all():
                changes = {}
                for column in columns:
                    value, found = rotate_tree(keyring, row._mapping[column])
                    if found:
                        changes[column.name] = value
                        total += found
                if changes:
                    where = [k == row._mapping[k] for k in keys]
                    session.execute(update(table).where(*where).values(**changes))
    return total
