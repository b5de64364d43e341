"""A Keystone v3 `POST /auth/tokens` body read into one value (pure: no I/O, no clock).

Served: the `password` method (user by id, or by name and domain) and the
`application_credential` method (by id, or by name and user), scoped to a project by id or
by name and domain. Hearth has one domain, `Default` (id `default`): a domain given by that
name or id is accepted, any other is read as "unknown", which the caller answers with the same
401 as a wrong password. A malformed body is a 400 naming what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.errors import InvalidRequest

PASSWORD = "password"
APPLICATION_CREDENTIAL = "application_credential"
METHODS = (PASSWORD, APPLICATION_CREDENTIAL)
DEFAULT_DOMAIN = {"id": "default", "name": "Default"}
SHAPE = (
    '{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": ..., '
    '"domain": {"name": "Default"}, "password": ...}}}, "scope": {"project": {"name": ..., '
    '"domain": {"name": "Default"}}}}} (or the user and project by "id"), or {"auth": '
    '{"identity": {"methods": ["application_credential"], "application_credential": '
    '{"id": ..., "secret": ...}}}}'
)


@dataclass(frozen=True)
class AuthRequest:
    method: str
    secret: str  # the password or the application credential's secret
    user_id: str | None = None
    user_name: str | None = None
    credential_id: str | None = None  # application credential
    credential_name: str | None = None
    project_id: str | None = None
    project_name: str | None = None
    foreign_domain: bool = False  # a user or project domain other than Default was named
    scoped: bool = False


def parse(body: Any) -> AuthRequest:
    auth = _dict(body, "auth")
    identity = _dict(auth, "identity")
    methods = identity.get("methods")
    if not isinstance(methods, list) or len(methods) != 1 or methods[0] not in METHODS:
        raise InvalidRequest(
            f'auth.identity.methods must be ["password"] or ["application_credential"]; expected {SHAPE}'
        )
    method = methods[0]
    given = _dict(identity, method)
    foreign = False
    if method == PASSWORD:
        user = _dict(given, "user")
        secret = user.get("password")
        if not isinstance(secret, str) or not _either(user, "id", "name"):
            raise InvalidRequest(f"auth.identity.password.user needs 'password' and 'id' or 'name'; expected {SHAPE}")
        foreign = _foreign_domain(user) if "id" not in user else False
        request = {
            "method": method,
            "secret": secret,
            "user_id": _text(user.get("id")),
            "user_name": None if "id" in user else _text(user.get("name")),
        }
    else:
        secret = given.get("secret")
        if not isinstance(secret, str) or not _either(given, "id", "name"):
            raise InvalidRequest(
                "auth.identity.application_credential needs 'secret' and 'id', or 'name' with its 'user'"
            )
        request = {"method": method, "secret": secret, "credential_id": _text(given.get("id"))}
        if "id" not in given:
            user = given.get("user")
            if not isinstance(user, dict) or not _either(user, "id", "name"):
                raise InvalidRequest(
                    "an application credential named by 'name' needs its 'user' (by 'id', or 'name' and 'domain')"
                )
            foreign = _foreign_domain(user) if "id" not in user else False
            request.update(
                credential_name=_text(given.get("name")),
                user_id=_text(user.get("id")),
                user_name=None if "id" in user else _text(user.get("name")),
            )
    scope = auth.get("scope")
    if scope is None or scope == "unscoped":
        return AuthRequest(**request, foreign_domain=foreign)
    if not isinstance(scope, dict) or set(scope) - {"project"}:
        raise InvalidRequest(
            "Hearth issues project-scoped tokens only: scope the token with "
            '{"scope": {"project": {"name": ..., "domain": {"name": "Default"}}}} '
            'or {"scope": {"project": {"id": ...}}}'
        )
    if method == APPLICATION_CREDENTIAL:
        raise InvalidRequest("an application credential is already scoped to its project: send no 'scope' with it")
    project = _dict(scope, "project")
    if not _either(project, "id", "name"):
        raise InvalidRequest("scope.project needs 'id', or 'name' and 'domain'")
    if "id" not in project:
        foreign = foreign or _foreign_domain(project)
    return AuthRequest(
        **request,
        project_id=_text(project.get("id")),
        project_name=None if "id" in project else _text(project.get("name")),
        foreign_domain=foreign,
        scoped=True,
    )


def _dict(parent: Any, key: str) -> dict:
    value = parent.get(key) if isinstance(parent, dict) else None
    if not isinstance(value, dict):
        raise InvalidRequest(f"'{key}' must be an object; expected {SHAPE}")
    return value


def _either(value: dict, *keys: str) -> bool:
    return any(isinstance(value.get(key), str) and value.get(key) for key in keys)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _foreign_domain(named: dict) -> bool:
    """True unless the object's `domain` is Default (by id or name). Keystone needs a domain
    with a name; a missing one is a 400 there too."""
    domain = named.get("domain")
    if not isinstance(domain, dict) or not _either(domain, "id", "name"):
        raise InvalidRequest(
            'a user or project given by \'name\' needs its \'domain\' ({"name": "Default"} or {"id": "default"})'
        )
    if "id" in domain:
        return domain.get("id") != DEFAULT_DOMAIN["id"]
    return domain.get("name") != DEFAULT_DOMAIN["name"]
