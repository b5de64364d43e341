"""Secrets at rest: Fernet encryption of stored secrets and SHA-256 hashing of guest credentials."""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, MultiFernet

ENCRYPTED = "__hearth_encrypted__"


def is_encrypted(value) -> bool:
    return isinstance(value, dict) and ENCRYPTED in value


def new_secret(prefix: str = "") -> str:
    """A random credential with 256 bits of entropy."""
    return prefix + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def load_or_create_key(data_dir: str) -> str:
    """The installation key from `<data_dir>/secret.key`, created (0600) on first start."""
    path = Path(data_dir) / "secret.key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


class Keyring:
    """Derives an encryption key and a signing key from the installation secret(s).

    `secret` may hold several comma-separated secrets: the first encrypts and signs, all
    decrypt (key rotation: put the new secret first, keep the old one until data is re-encrypted).
    """

    def __init__(self, secret: str):
        parts = [p.strip() for p in secret.split(",") if p.strip()]
        if not parts:
            raise ValueError("an installation secret is required")
        self._fernet = MultiFernet([Fernet(self._derive(p, b"encrypt")) for p in parts])
        self._signing = hashlib.sha256(b"sign:" + parts[0].encode()).digest()

    @staticmethod
    def _derive(secret: str, purpose: bytes) -> bytes:
        return base64.urlsafe_b64encode(hashlib.sha256(purpose + b":" + secret.encode()).digest())

    def encrypt(self, plaintext: str) -> dict:
        return {ENCRYPTED: self._fernet.encrypt(plaintext.encode()).decode()}

    def decrypt(self, value) -> str:
        if isinstance(value, dict) and ENCRYPTED in value:
            return self._fernet.decrypt(value[ENCRYPTED].encode()).decode()
        return value

    def sign(self, message: str) -> str:
        digest = hmac.new(self._signing, message.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def verify(self, message: str, signature: str) -> bool:
        return hmac.compare_digest(self.sign(message), signature or "")
