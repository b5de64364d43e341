"""Keystone application credentials for people: owns ApplicationCredential rows (and revokes their
tokens), through `runtime.store` sessions, with audit records; no other I/O.

Keystone's application credentials, for people: `/identity/v3/users/{user}/application_credentials`.

A person signed in to a project (a project-scoped token, engine/signin.py) makes one for
themselves, as in Keystone; it signs in to that project with at most the role it was made
with (and never more than the user still has there), without the user's password. Its
secret is shown once and kept only as a scrypt hash (engine/passwords.py). Deleting it revokes
the tokens it signed in. The user and the cloud admin may list, show and delete them.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select, update

from engine import audit, identity, passwords
from engine.errors import Conflict, Forbidden, InvalidRequest, NotFound
from engine.runtime import Runtime
from engine.signin import CREDENTIAL_TOKEN, PeopleKeystone, stable_id
from engine.store.crypto import new_secret
from engine.store.models import ApiToken, ApplicationCredential

FIELDS = ("name", "description", "secret", "expires_at", "roles", "unrestricted", "access_rules")


class ApplicationCredentials:
    def __init__(self, runtime: Runtime, people: PeopleKeystone):
        self.runtime, self.people = runtime, people

    def create(self, token: str | None, user_id: str, body: object, base_url: str) -> dict:
        principal = self.people.principal(token)
        given = body.get("application_credential") if isinstance(body, dict) else None
        if not isinstance(given, dict) or not isinstance(given.get("name"), str) or not given["name"]:
            raise InvalidRequest(
                'expected {"application_credential": {"name": ..., "roles": [...], '
                '"expires_at": ..., "description": ..., "secret": ...}}'
            )
        unknown = sorted(set(given) - set(FIELDS))
        if unknown:
            raise InvalidRequest(f"unknown application credential fields: {', '.join(unknown)}")
        if given.get("unrestricted") or given.get("access_rules"):
            raise InvalidRequest("Hearth makes restricted application credentials only, without access rules")
        now = self.runtime.now()
        with self.runtime.store.session() as session:
            row = session.get(ApiToken, principal.token_id)
            if principal.user_id != user_id:
                raise Forbidden("an application credential is made by its own user only")
            if row.project_id is None or row.name.startswith(CREDENTIAL_TOKEN):
                raise Forbidden(
                    "sign in with your password to a project (a project-scoped token) to "
                    "make an application credential for it"
                )
            held = principal.roles.get(row.project_id)
            role = _role(given.get("roles"), held)
            if session.scalar(
                select(ApplicationCredential.id).where(
                    ApplicationCredential.user_id == user_id, ApplicationCredential.name == given["name"]
                )
            ):
                raise Conflict(f"you already have an application credential named '{given['name']}'")
            secret = passwords.check_new(given["secret"]) if given.get("secret") else new_secret()
            credential = ApplicationCredential(
                id=uuid.uuid4().hex,
                name=given["name"][:255],
                description=str(given.get("description") or ""),
                user_id=user_id,
                project_id=row.project_id,
                role=role,
                secret_hash=passwords.hash_password(secret),
                created_at=now,
                expires_at=_expiry(given.get("expires_at"), now),
            )
            session.add(credential)
            audit.record(
                session,
                action="application_credential.create",
                actor=f"user:{user_id}",
                subject=credential.id,
                detail={"project": row.project_id, "role": role},
                now=now,
            )
            return {"application_credential": {**view(credential, base_url), "secret": secret}}

    def list(self, token: str | None, user_id: str, name: str | None, base_url: str) -> dict:
        self._may_read(token, user_id)
        query = select(ApplicationCredential).where(ApplicationCredential.user_id == user_id)
        if name:
            query = query.where(ApplicationCredential.name == name)
        with self.runtime.store.session() as session:
            rows = session.scalars(query.order_by(ApplicationCredential.created_at))
            return {
                "application_credentials": [view(row, base_url) for row in rows],
                "links": {
                    "self": f"{base_url}/users/{user_id}/application_credentials",
                    "next": None,
                    "previous": None,
                },
            }

    def show(self, token: str | None, user_id: str, credential_id: str, base_url: str) -> dict:
        self._may_read(token, user_id)
        with self.runtime.store.session() as session:
            return {"application_credential": view(self._find(session, user_id, credential_id), base_url)}

    def delete(self, token: str | None, user_id: str, credential_id: str) -> None:
        self._may_read(token, user_id)
        now = self.runtime.now()
        with self.runtime.store.session() as session:
            credential = self._find(session, user_id, credential_id)
            session.execute(
                update(ApiToken)
                .where(ApiToken.name == CREDENTIAL_TOKEN + credential.id, ApiToken.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            session.delete(credential)
            audit.record(
                session, action="application_credential.delete", actor=f"user:{user_id}", subject=credential.id, now=now
            )

    def _may_read(self, token: str | None, user_id: str) -> None:
        principal = self.people.principal(token)
        if principal.user_id != user_id and not principal.cloud_admin:
            raise Forbidden("only the user or a cloud admin may see or delete its application credentials")

    @staticmethod
    def _find(session, user_id: str, credential_id: str) -> ApplicationCredential:
        row = session.get(ApplicationCredential, credential_id)
        if row is None or row.user_id != user_id:
            raise NotFound(f"Could not find application credential: {credential_id}.")
        return row


def view(row: ApplicationCredential, base_url: str) -> dict:
    return {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "user_id": row.user_id,
        "project_id": row.project_id,
        "unrestricted": False,
        "access_rules": [],
        "roles": [{"id": _role_id(name), "name": name, "domain_id": None} for name in identity.implied_roles(row.role)],
        "expires_at": row.expires_at.strftime("%Y-%m-%dT%H:%M:%S.000000") if row.expires_at else None,
        "links": {"self": f"{base_url}/users/{row.user_id}/application_credentials/{row.id}"},
    }


def _role(asked: object, held: str | None) -> str:
    """The one Hearth role the credential gets: the highest asked for (by name or id), or the
    role the token holds; never more than that."""
    if held is None:
        raise Forbidden("the token has no role in its project")
    if not asked:
        return held
    names = set()
    for entry in asked if isinstance(asked, list) else [None]:
        name = entry.get("name") if isinstance(entry, dict) else None
        by_id = {_role_id(r): r for r in identity.ROLES}
        name = name or (by_id.get(entry.get("id")) if isinstance(entry, dict) else None)
        if name not in identity.ROLES:
            raise InvalidRequest(
                f'roles are given as [{{"name": ...}}] with names from {", ".join(identity.ROLES)}, not {entry!r}'
            )
        names.add(name)
    role = max(names, key=identity.ROLES.index)
    if identity.ROLES.index(role) > identity.ROLES.index(held):
        raise Forbidden(f"the role {role} is not yours in this project (you hold {held})")
    return role


def _expiry(value: object, now: dt.datetime) -> dt.datetime | None:
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        if moment.tzinfo is not None:
            moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):  # OverflowError: a time zone past year 1 or 9999
        raise InvalidRequest(
            "'expires_at' must be an ISO 8601 time from year 1 to 9999, e.g. 2027-01-31T12:00:00"
        ) from None
    if moment <= now:
        raise InvalidRequest("'expires_at' must be in the future")
    return moment


def _role_id(name: str) -> str:
    return stable_id("role:" + name)
