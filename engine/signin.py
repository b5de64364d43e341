"""Keystone v3 for people: sign-in, token validation and revocation, the catalog; owns people's
project-scoped ApiToken rows, through `runtime.store` sessions, with audit records.

Keystone v3 for people: sign-in by password or application credential, token validation and
revocation, and the catalog that names Hearth's orchestration API.

A person signs in as a Hearth user (engine/identity.py) in the one domain `Default`, scoped to
a project they have a role in. The token is an API token row (`hat_…`, stored hashed) that
expires after `token_ttl` and is scoped as Keystone's are: it reaches that one project, with at
most the role the sign-in gave (an application credential's role), so the orchestration API
takes it as `X-Auth-Token` like any API token (orchestration_auth). Every refusal of a
sign-in is the same 401, whatever was wrong (user, domain, password, disabled, no password),
and costs the same scrypt check; which it was is written to the audit log only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, select

from engine import audit, identity, passwords
from engine.errors import Forbidden, InvalidRequest, NotFound, Unauthorized
from engine.guest.transports import temp_url
from engine.keystone_request import APPLICATION_CREDENTIAL, DEFAULT_DOMAIN, AuthRequest
from engine.runtime import Runtime, iso, keystone_iso
from engine.store.crypto import hash_secret, new_secret
from engine.store.models import ApiToken, ApplicationCredential, Membership, Project, User

REGION = "RegionOne"
# Keystone's own words for every failed sign-in: nothing says which part was wrong.
BAD_LOGIN = "The request you have made requires authentication."
BAD_TOKEN = "The request you have made requires authentication: the token is unknown, expired or revoked."
PASSWORD_TOKEN = "keystone: password"
CREDENTIAL_TOKEN = "keystone: application credential "
# Expired sign-in tokens are deleted this long after they expire (the audit log keeps the issue).
EXPIRED_KEPT = dt.timedelta(days=1)


def refused(reason: str, actor: str = "anonymous") -> Unauthorized:
    """The one 401 of a failed sign-in; `reason` goes to the audit log only."""
    error = Unauthorized(BAD_LOGIN)
    error.actor, error.audit_reason = actor, reason
    return error


@dataclass(frozen=True)
class SignedIn:
    token: str
    body: dict


def catalog(api_url: str, project_id: str, object_store: str | None = None) -> list[dict]:
    """Heat's catalog entries: `orchestration` at `<api>/v1/<project>` (the `%(project_id)s`
    of Heat's endpoint, filled in), `identity` at `<api>/identity` and `messaging` at
    `<api>/messaging` (the project's own Zaqar queues, engine/user_queues.py, where zaqar-queue
    event sinks post: zaqarclient finds them by this entry), three interfaces each;
    with `object_store`, the corner of Swift that heatclient's TEMP_URL_SIGNAL uses
    (engine/guest/transports/temp_url.py), so `heat deployment-create` finds it as it finds Swift in a cloud."""
    services = [
        ("orchestration", "heat", f"{api_url}/v1/{project_id}"),
        ("identity", "keystone", f"{api_url}/identity"),
        ("messaging", "zaqar", f"{api_url}/messaging"),
    ]
    if object_store:
        services.append(("object-store", "swift", object_store))
    return [
        {
            "type": kind,
            "name": name,
            "id": stable_id(kind),
            "endpoints": [
                {
                    "id": stable_id(f"{kind}:{interface}"),
                    "interface": interface,
                    "region": REGION,
                    "region_id": REGION,
                    "url": url,
                }
                for interface in ("public", "internal", "admin")
            ],
        }
        for kind, name, url in services
    ]


class PeopleKeystone:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    # Sign-in -------------------------------------------------------------------------------
    def is_person(self, request: AuthRequest) -> bool:
        """Whether this sign-in is a person's (else it may be a guest's, engine/guest/transports/heat.py)."""
        if request.user_name or request.method == APPLICATION_CREDENTIAL:
            return True
        with self.runtime.store.session() as session:
            return session.get(User, request.user_id) is not None

    def sign_in(self, request: AuthRequest, api_url: str, remote_addr: str | None = None) -> SignedIn:
        try:
            if request.method == APPLICATION_CREDENTIAL:
                user_id, project_id, ceiling, credential = self._check_credential(request)
            else:
                user_id, project_id, ceiling, credential = self._check_password(request)
            return self._issue(user_id, project_id, ceiling, credential, request.method, api_url, remote_addr)
        except Unauthorized as error:
            audit.record_refusal(
                self.runtime,
                error,
                api="keystone",
                operation="sign-in",
                remote_addr=remote_addr,
                method=request.method,
                why=getattr(error, "audit_reason", str(error)),
            )
            raise

    def _check_password(self, request: AuthRequest):
        if not request.scoped:
            raise InvalidRequest(
                "Hearth issues project-scoped tokens only: add "
                '"scope": {"project": {"name": ..., "domain": {"name": "Default"}}}'
            )
        with self.runtime.store.session() as session:
            user = self._user(session, request)
            stored = user.password_hash if user is not None else None
            user_id = user.id if user is not None else None
        if not passwords.verify(stored, request.secret):
            raise refused("unknown user or domain, no password set, or a wrong password", user_id or "anonymous")
        with self.runtime.store.session() as session:
            user = session.get(User, user_id)
            if user is None or user.disabled_at is not None:
                raise refused("the user is disabled or was deleted", user_id)
            if passwords.needs_rehash(user.password_hash):
                user.password_hash = passwords.hash_password(request.secret)
            project = (
                None
                if request.foreign_domain
                else (
                    session.get(Project, request.project_id)
                    if request.project_id
                    else session.scalar(select(Project).where(Project.name == request.project_name))
                )
            )
            if project is None or session.get(Membership, (user_id, project.id)) is None:
                error = Unauthorized(
                    f"User {user_id} has no access to project {request.project_id or request.project_name}"
                )
                error.actor = user_id
                raise error
            return user_id, project.id, None, None

    def _check_credential(self, request: AuthRequest):
        now = self.runtime.now()
        with self.runtime.store.session() as session:
            if request.credential_id:
                row = session.get(ApplicationCredential, request.credential_id)
            else:
                user = self._user(session, request)
                row = user and session.scalar(
                    select(ApplicationCredential).where(
                        ApplicationCredential.user_id == user.id, ApplicationCredential.name == request.credential_name
                    )
                )
            found = (row.id, row.user_id, row.project_id, row.role, row.secret_hash, row.expires_at) if row else None
        if not passwords.verify(found[4] if found else None, request.secret):
            raise refused("unknown application credential or a wrong secret", found[1] if found else "anonymous")
        credential_id, user_id, project_id, role, _, expires_at = found
        if expires_at is not None and expires_at <= now:
            raise refused(f"application credential {credential_id} expired", user_id)
        with self.runtime.store.session() as session:
            user = session.get(User, user_id)
            membership = session.get(Membership, (user_id, project_id))
            if user is None or user.disabled_at is not None or membership is None:
                raise refused(
                    f"application credential {credential_id}: its user is disabled or "
                    "no longer has a role in its project",
                    user_id,
                )
        return user_id, project_id, role, (credential_id, expires_at)

    def _user(self, session, request: AuthRequest) -> User | None:
        if request.foreign_domain:
            return None
        if request.user_id:
            return session.get(User, request.user_id)
        return session.scalar(select(User).where(User.name == request.user_name))

    def _issue(self, user_id, project_id, ceiling, credential, method, api_url, remote_addr) -> SignedIn:
        now = self.runtime.now()
        expires = now + dt.timedelta(seconds=self.runtime.config.token_ttl)
        if credential and credential[1] is not None:
            expires = min(expires, credential[1])
        name = CREDENTIAL_TOKEN + credential[0] if credential else PASSWORD_TOKEN
        secret = new_secret(identity.TOKEN_PREFIX)
        with self.runtime.store.session() as session:
            session.execute(
                delete(ApiToken).where(
                    ApiToken.user_id == user_id,
                    ApiToken.project_id.is_not(None),
                    ApiToken.expires_at < now - EXPIRED_KEPT,
                )
            )
            row = ApiToken(
                id=str(uuid.uuid4()),
                user_id=user_id,
                name=name,
                secret_hash=hash_secret(secret),
                created_at=now,
                expires_at=expires,
                project_id=project_id,
                role=ceiling,
            )
            session.add(row)
            audit.record(
                session,
                action="keystone.token",
                actor=f"user:{user_id}",
                subject=row.id,
                detail={"method": method, "project": project_id, "expires_at": iso(expires)},
                remote_addr=remote_addr,
                now=now,
            )
            session.flush()
            body = self._token_body(session, row, api_url)
        return SignedIn(token=secret, body=body)

    # Tokens --------------------------------------------------------------------------------
    def is_own_token(self, token: str | None) -> bool:
        """Whether `token` is a live token issued here to a person (for routing validation)."""
        with self.runtime.store.session() as session:
            return self._live(session, token) is not None

    def validate(self, caller: str | None, subject: str | None, api_url: str) -> dict:
        """Keystone's GET auth/tokens: the subject token's body, for itself or a cloud admin."""
        with self.runtime.store.session() as session:
            row = self._row_for_caller(session, caller, subject)
            return self._token_body(session, row, api_url)

    def revoke(self, caller: str | None, subject: str | None) -> None:
        """Keystone's DELETE auth/tokens: revoke the subject token (its own, or a cloud admin)."""
        with self.runtime.store.session() as session:
            row = self._row_for_caller(session, caller, subject)
            row.revoked_at = self.runtime.now()
            audit.record(
                session, action="token.revoke", actor=f"user:{row.user_id}", subject=row.id, now=self.runtime.now()
            )

    def principal(self, token: str | None) -> identity.Principal:
        """The person a token (any live API token) stands for, or 401."""
        with self.runtime.store.session() as session:
            try:
                return identity.authenticate(session, token, self.runtime.now())
            except Unauthorized:
                raise Unauthorized(BAD_TOKEN) from None

    def _row_for_caller(self, session, caller: str | None, subject: str | None) -> ApiToken:
        principal = self.principal(caller)
        row = self._live(session, subject)
        if row is None:
            raise NotFound(
                "Could not find token: the token is unknown, expired, revoked or not one issued at /identity/v3"
            )
        if row.user_id != principal.user_id and not principal.cloud_admin:
            raise Forbidden("only the token's own user or a cloud admin may do this")
        return row

    def _live(self, session, token: str | None) -> ApiToken | None:
        """The live token row issued at /identity/v3 for `token`, or None."""
        if not token:
            return None
        row = session.scalar(select(ApiToken).where(ApiToken.secret_hash == hash_secret(token)))
        now = self.runtime.now()
        if (
            row is None
            or row.project_id is None
            or row.revoked_at is not None
            or (row.expires_at is not None and row.expires_at <= now)
        ):
            return None
        return row

    def _token_body(self, session, row: ApiToken, api_url: str) -> dict:
        user = session.get(User, row.user_id)
        project = session.get(Project, row.project_id)
        membership = session.get(Membership, (row.user_id, row.project_id))
        role = identity.lesser_role(membership.role if membership else None, row.role)
        credential = row.name[len(CREDENTIAL_TOKEN) :] if row.name.startswith(CREDENTIAL_TOKEN) else None
        token = {
            "methods": [APPLICATION_CREDENTIAL if credential else "password"],
            "user": {"id": user.id, "name": user.name, "domain": DEFAULT_DOMAIN, "password_expires_at": None},
            "project": {"id": project.id, "name": project.name, "domain": DEFAULT_DOMAIN},
            "roles": [{"id": stable_id("role:" + name), "name": name} for name in identity.implied_roles(role)]
            if role
            else [],
            "is_domain": False,
            "audit_ids": [stable_id("audit:" + row.id)[:22]],
            "issued_at": keystone_iso(row.created_at),
            "expires_at": keystone_iso(row.expires_at),
            "catalog": catalog(api_url, project.id, temp_url.endpoint(self.runtime, project.id)),
        }
        if credential:
            named = session.get(ApplicationCredential, credential)
            token["application_credential"] = {
                "id": credential,
                "name": named.name if named else "",
                "restricted": True,
            }
        return {"token": token}


def stable_id(text: str) -> str:
    """A Keystone-looking id (32 hex) that is the same on every node and start."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]
