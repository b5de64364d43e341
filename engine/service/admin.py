"""service.admin, who may do what: projects, users, tokens, delegations, audit: their rows, and
`bootstrap`'s `<data_dir>/admin-token` file (after migrating the database).

What `/admin/v1/` and the token check of the orchestration API do, moved out of the server's
views: each method is one transaction over engine.identity and engine.audit, and an admin's
change is written to the audit log in the same transaction as the change. The views parse the
request and render; the caller (`Caller`) is who the audit log names.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from engine import audit, identity
from engine.errors import NotFound
from engine.guest.transports import heat as keystone
from engine.identity import Principal
from engine.runtime import Runtime
from engine.store.models import ApiToken, Delegation, Membership, Project, User

# A guest Keystone token (engine.guest.transports.heat) reaches two orchestration routes and no other.
GUEST_TOKEN_PREFIX = keystone.TOKEN_PREFIX
GUEST_TOKEN_WRONG_TARGET = keystone.WRONG_TARGET


@dataclass(frozen=True)
class Caller:
    """Who sends an admin request, as the audit log names it."""

    user_name: str
    remote_addr: str | None = None

    @property
    def actor(self) -> str:
        return f"user:{self.user_name}"


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _project_view(project: Project) -> dict:
    return {"id": project.id, "name": project.name, "created_at": _iso(project.created_at)}


def _user_view(session, user: User) -> dict:
    roles = {m.project_id: m.role for m in session.scalars(select(Membership).where(Membership.user_id == user.id))}
    return {
        "id": user.id,
        "name": user.name,
        "created_at": _iso(user.created_at),
        "disabled_at": _iso(user.disabled_at),
        "roles": roles,
        "password": "set" if user.password_hash else "none",
        "password_set_at": _iso(user.password_set_at),
    }


def _token_view(token: ApiToken, user_name: str) -> dict:
    return {
        "id": token.id,
        "user": user_name,
        "name": token.name,
        "created_at": _iso(token.created_at),
        "expires_at": _iso(token.expires_at),
        "revoked_at": _iso(token.revoked_at),
        "last_used_at": _iso(token.last_used_at),
    }


def _delegation_view(delegation: Delegation, user_name: str) -> dict:
    return {
        "id": delegation.id,
        "user": user_name,
        "project": delegation.project_id,
        "stack_id": delegation.stack_id,
        "role": delegation.role,
        "created_at": _iso(delegation.created_at),
        "revoked_at": _iso(delegation.revoked_at),
    }


def _user_names(session) -> dict[str, str]:
    return {user.id: user.name for user in session.scalars(select(User))}


class Admin:
    """`service.admin`: identities, their tokens and delegations, and the audit log."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    def _record(self, session, caller: Caller, action: str, subject: str | None, **detail) -> None:
        audit.record(
            session,
            action=action,
            actor=caller.actor,
            subject=subject,
            detail=detail or None,
            remote_addr=caller.remote_addr,
            now=self.runtime.now(),
        )

    # Authentication ---------------------------------------------------------------------
    def bootstrap(self, admin_token: str | None) -> str | None:
        """Project `admin`, user `admin` and its token (engine.identity.bootstrap); the file a
        token made now was written to, if one was."""
        runtime = self.runtime
        runtime.store.migrate()  # idempotent; the service may not be started yet
        with runtime.store.session() as session:
            runtime.store.serialize(session, "bootstrap")  # replicas starting at once take turns
            return identity.bootstrap(session, runtime.config.resolved_data_dir, runtime.now(), admin_token)

    def authenticate(self, presented: str | None) -> Principal:
        """The principal of a live token, or Unauthorized."""
        now = self.runtime.now()
        with self.runtime.store.session() as session:
            return identity.authenticate(session, presented, now)

    @staticmethod
    def authorize(principal: Principal, project: str, method: str, *, admin_only: bool = False) -> str:
        return identity.authorize(principal, project, method, admin_only=admin_only)

    @staticmethod
    def require_cloud_admin(principal: Principal) -> None:
        identity.require_cloud_admin(principal)

    @staticmethod
    def token_actor(presented: str | None) -> str:
        return audit.token_actor(presented)

    def record_refused(
        self, action: str, actor: str, subject: str, error: Exception, remote_addr: str | None, **detail
    ) -> None:
        """A refused request, in a transaction of its own (the request's is rolled back)."""
        runtime = self.runtime
        with runtime.store.session() as session:
            audit.record(
                session,
                action=action,
                actor=actor,
                subject=subject,
                outcome="refused",
                detail={"reason": str(error), **detail},
                remote_addr=remote_addr,
                now=runtime.now(),
            )

    # Projects ---------------------------------------------------------------------------
    def list_projects(self) -> list[dict]:
        with self.runtime.store.session() as session:
            rows = session.scalars(select(Project).order_by(Project.name))
            return [_project_view(p) for p in rows]

    def create_project(self, caller: Caller, name: str) -> dict:
        with self.runtime.store.session() as session:
            project = identity.create_project(session, name, self.runtime.now())
            self._record(session, caller, "project.create", project.id)
            return _project_view(project)

    def delete_project(self, caller: Caller, name: str) -> None:
        with self.runtime.store.session() as session:
            project = identity.delete_project(session, name)
            self._record(session, caller, "project.delete", project.id)

    # Users and roles --------------------------------------------------------------------
    def list_users(self) -> list[dict]:
        with self.runtime.store.session() as session:
            return [_user_view(session, u) for u in session.scalars(select(User).order_by(User.name))]

    def create_user(self, caller: Caller, name: str, password: Any, *, password_given: bool) -> dict:
        """With a password the user can sign in at /identity/v3; one given as null is refused
        by engine.passwords, as any other that is not a password."""
        now = self.runtime.now()
        with self.runtime.store.session() as session:
            user = identity.create_user(session, name, now)
            if password_given:
                identity.set_password(session, user, password, now)
            session.flush()
            self._record(session, caller, "user.create", user.name, can_sign_in=password_given)
            return _user_view(session, user)

    def set_password(self, caller: Caller, name: str, password: str) -> None:
        """Stored as a scrypt hash; the user's signed-in tokens are revoked."""
        now = self.runtime.now()
        with self.runtime.store.session() as session:
            user = identity.find_user(session, name)
            identity.set_password(session, user, password, now)
            self._record(session, caller, "user.password.set", user.name)

    def clear_password(self, caller: Caller, name: str) -> None:
        with self.runtime.store.session() as session:
            user = identity.find_user(session, name)
            identity.clear_password(session, user, self.runtime.now())
            self._record(session, caller, "user.password.clear", user.name)

    def delete_user(self, caller: Caller, name: str) -> None:
        with self.runtime.store.session() as session:
            user = identity.delete_user(session, name, self.runtime.now())
            self._record(session, caller, "user.delete", user.name)

    def add_role(self, caller: Caller, project: str, user: str, role: str) -> None:
        with self.runtime.store.session() as session:
            identity.add_role(session, user, project, role)
            self._record(session, caller, "role.add", f"{user}@{project}", role=role)

    def remove_role(self, caller: Caller, project: str, user: str, role: str) -> None:
        with self.runtime.store.session() as session:
            identity.remove_role(session, user, project, role)
            self._record(session, caller, "role.remove", f"{user}@{project}", role=role)

    # Tokens -----------------------------------------------------------------------------
    def list_tokens(self, user: str | None = None) -> list[dict]:
        query = select(ApiToken).order_by(ApiToken.created_at)
        with self.runtime.store.session() as session:
            if user:
                query = query.where(ApiToken.user_id == identity.find_user(session, user).id)
            names = _user_names(session)
            return [_token_view(t, names.get(t.user_id, t.user_id)) for t in session.scalars(query)]

    def issue_token(self, caller: Caller, user: str, name: str, expires_in: int | None) -> dict:
        """The token's view with the token itself, shown this once."""
        now = self.runtime.now()
        expires_at = now + dt.timedelta(seconds=expires_in) if expires_in is not None else None
        with self.runtime.store.session() as session:
            found = identity.find_user(session, user)
            token, secret = identity.issue_token(session, found, now, name=name, expires_at=expires_at)
            self._record(session, caller, "token.issue", token.id, user=found.name)
            return {**_token_view(token, found.name), "token": secret}

    def revoke_token(self, caller: Caller, token_id: str) -> None:
        with self.runtime.store.session() as session:
            token = identity.revoke_token(session, token_id, self.runtime.now())
            self._record(session, caller, "token.revoke", token.id)

    # Delegations ------------------------------------------------------------------------
    def list_delegations(self, stack_id: str | None = None) -> list[dict]:
        query = select(Delegation).order_by(Delegation.created_at)
        if stack_id:
            query = query.where(Delegation.stack_id == stack_id)
        with self.runtime.store.session() as session:
            names = _user_names(session)
            return [_delegation_view(d, names.get(d.user_id, d.user_id)) for d in session.scalars(query)]

    def revoke_delegation(self, caller: Caller, delegation_id: str) -> None:
        with self.runtime.store.session() as session:
            delegation = session.get(Delegation, delegation_id)
            if delegation is None:
                raise NotFound(f"delegation '{delegation_id}' not found")
            if delegation.revoked_at is None:
                delegation.revoked_at = self.runtime.now()
            self._record(session, caller, "delegation.revoke", delegation.id, stack_id=delegation.stack_id)

    def revoke_stack_delegations(self, caller: Caller, stack_id: str) -> None:
        """A deleted stack's delegations end with it (the delete itself was asked for by the
        user, so a delete resumed after a restart does not need them)."""
        runtime = self.runtime
        with runtime.store.session() as session:
            for revoked in identity.revoke_delegations(session, stack_id, runtime.now()):
                audit.record(
                    session,
                    action="delegation.revoke",
                    actor=caller.actor,
                    subject=revoked,
                    detail={"stack_id": stack_id, "reason": "stack deleted"},
                    remote_addr=caller.remote_addr,
                    now=runtime.now(),
                )

    # Audit ------------------------------------------------------------------------------
    def list_audit(
        self, *, action: str | None, since: dt.datetime | None, limit: int, marker: int | None
    ) -> list[dict[str, Any]]:
        with self.runtime.store.session() as session:
            events = audit.list_events(session, action=action, since=since, limit=limit, marker=marker)
            return [audit.as_dict(e) for e in events]
