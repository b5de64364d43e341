"""People's passwords and application-credential secrets as scrypt hashes: pure CPU work but for
os.urandom salts; no store, files or clock.

People's passwords (and application credential secrets), kept only as scrypt hashes.

Stored form: `scrypt$<log2 N>$<r>$<p>$<salt, base64>$<key, base64>`. The parameters travel with
each hash, so they can be raised later: `needs_rehash` tells the sign-in to store a fresh hash
the next time the right password is given. The defaults are OWASP's scrypt choice (N=2^15,
r=8, p=3: 32 MiB and about a quarter of a second per check), which is what makes a stolen
database slow to guess from. Nothing here logs; a password is never kept, compared in clear or
put into an error message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from engine.errors import InvalidRequest

SCHEME = "scrypt"
N_LOG2, R, P = 15, 8, 3
SALT_BYTES, KEY_BYTES = 16, 32
MAX_MEMORY = 128 * 1024 * 1024  # hashlib's limit must sit above 128 * r * N (32 MiB here)
MIN_LENGTH, MAX_LENGTH = 8, 1024
# A well-formed hash of a random password: checked when the user is unknown or has no
# password, so a refusal costs the same time whatever was wrong.
_DECOY = None


def check_new(password: object) -> str:
    """The password if it may be set; InvalidRequest (without echoing it) otherwise."""
    if not isinstance(password, str) or not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise InvalidRequest(f"a password is a string of {MIN_LENGTH} to {MAX_LENGTH} characters")
    return password


def hash_password(password: str, *, n_log2: int = N_LOG2, r: int = R, p: int = P) -> str:
    salt = os.urandom(SALT_BYTES)
    key = _derive(password, salt, n_log2, r, p)
    return "$".join((SCHEME, str(n_log2), str(r), str(p), _b64(salt), _b64(key)))


def verify(stored: str | None, password: str | None) -> bool:
    """True when `password` matches `stored`. An absent hash or password still costs one
    derivation (against a decoy), so the time taken does not tell which part was wrong."""
    global _DECOY
    if not stored or not isinstance(password, str):
        _DECOY = _DECOY or hash_password(os.urandom(16).hex())
        _check(_DECOY, "not the password")
        return False
    return _check(stored, password)


def needs_rehash(stored: str) -> bool:
    parts = stored.split("$")
    return len(parts) != 6 or parts[0] != SCHEME or parts[1:4] != [str(N_LOG2), str(R), str(P)]


def _check(stored: str, password: str) -> bool:
    try:
        scheme, n_log2, r, p, salt, key = stored.split("$")
        if scheme != SCHEME:
            return False
        derived = _derive(password, base64.b64decode(salt), int(n_log2), int(r), int(p))
        return hmac.compare_digest(derived, base64.b64decode(key))
    except (ValueError, TypeError):
        return False


def _derive(password: str, salt: bytes, n_log2: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=2**n_log2, r=r, p=p, maxmem=MAX_MEMORY, dklen=KEY_BYTES)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()
