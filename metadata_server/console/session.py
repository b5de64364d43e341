"""The console's sign-in cookie and CSRF tokens (docs/console.md, Security): pure functions over
a cookie value and a signing key; reads nothing, writes nothing.

The session cookie holds `<project>:<API token>` (HttpOnly, SameSite=Strict, Path=/console/,
Secure over https); it is checked against the engine on every request, so a revoked or expired
token ends the session at once. A state-changing request carries a CSRF token that is the HMAC
of the cookie under the server's signing key (the keyring's, so rotation keeps working), which
a page of another origin can neither read nor compute. The sign-in form, before any session
exists, uses a double-submit cookie: a random value in an HttpOnly cookie and the same value in
the form.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Protocol

COOKIE = "hearth_console"
SIGNIN_COOKIE = "hearth_console_signin"
PATH = "/console/"
CSRF_PURPOSE = "hearth-console-csrf\n"


class Signer(Protocol):
    """What signs CSRF tokens: the engine's keyring (engine/store/crypto.py Keyring)."""

    def sign(self, message: str) -> str: ...

    def verify(self, message: str, signature: str) -> bool: ...


@dataclass(frozen=True)
class Session:
    """A signed-in console: the project it shows and the token that reaches it."""

    project: str
    token: str

    @property
    def cookie(self) -> str:
        return f"{self.project}:{self.token}"


def parse(value: str | None) -> Session | None:
    """The session a cookie value names, or None for a missing or malformed one (project
    names hold no ':', tokens no whitespace)."""
    if not value:
        return None
    project, sep, token = value.partition(":")
    if not sep or not project or not token or any(c.isspace() for c in value):
        return None
    return Session(project, token)


def csrf_token(signer: Signer, session: Session) -> str:
    return signer.sign(CSRF_PURPOSE + session.cookie)


def csrf_ok(signer: Signer, session: Session | None, given: str | None) -> bool:
    """Whether a POST's CSRF token belongs to this session's cookie."""
    if session is None or not given:
        return False
    return signer.verify(CSRF_PURPOSE + session.cookie, given)


def new_signin_nonce() -> str:
    return secrets.token_urlsafe(24)


def signin_ok(cookie: str | None, given: str | None) -> bool:
    """The double-submit check of the sign-in form: the form's value equals the cookie's."""
    if not cookie or not given:
        return False
    return hmac.compare_digest(cookie.encode(), given.encode())


def cookie_options(secure: bool) -> dict:
    """Werkzeug's set_cookie options for both console cookies."""
    return {"path": PATH, "httponly": True, "samesite": "Strict", "secure": secure}
