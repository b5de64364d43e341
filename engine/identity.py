"""Projects, users, roles, API tokens and delegations, in the caller's session; `bootstrap` also
reads or writes `<data_dir>/admin-token` (owner-only). No other I/O.

Who may use the orchestration API: projects, users, roles, API tokens and delegations.

A token is random, shown once and stored only as its SHA-256 (like guest credentials). A user
has one role per project: `reader` may read, `member` may also change the project's stacks,
`admin` may do everything in the project. An admin of the project `admin` is the cloud admin:
it may act in every project and manage projects, users, tokens, delegations and the audit log.
A delegation (Heat's trust) records on whose behalf the engine keeps working on one stack.
A user may also have a password (engine/passwords.py) to sign in at `/identity/v3`
(engine/signin.py), which issues tokens scoped to one project, as Keystone's are.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from engine import audit, passwords
from engine.errors import Conflict, Forbidden, InvalidRequest, NotFound, Unauthorized
from engine.store.crypto import hash_secret, new_secret
from engine.store.files import write_private
from engine.store.models import (
    ApiToken,
    ApplicationCredential,
    Delegation,
    Membership,
    Project,
    Stack,
    User,
)

log = logging.getLogger(__name__)

ROLES = ("reader", "member", "admin")
ADMIN_PROJECT = "admin"
ADMIN_USER = "admin"
TOKEN_FILE = "admin-token"
TOKEN_PREFIX = "hat_"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# last_used_at is refreshed at most this often, so reads do not all turn into writes.
LAST_USED_GRANULARITY = dt.timedelta(minutes=1)
READ_METHODS = ("GET", "HEAD", "OPTIONS")


@dataclass
class Principal:
    """The user a request's token names, with its role in each project."""

    user_id: str
    user_name: str
    token_id: str
    roles: dict[str, str] = field(default_factory=dict)

    @property
    def cloud_admin(self) -> bool:
        return self.roles.get(ADMIN_PROJECT) == "admin"

    def role_in(self, project: str) -> str | None:
        """The effective role in `project` (the cloud admin is admin everywhere)."""
        return "admin" if self.cloud_admin else self.roles.get(project)


def check_name(kind: str, name: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise InvalidRequest(
            f"a {kind} name is 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit, not {name!r}"
        )
    return name


def lesser_role(role: str | None, ceiling: str | None) -> str | None:
    """`role`, lowered to `ceiling` when that is less (reader < member < admin)."""
    if role is None or ceiling is None:
        return role
    return ROLES[min(ROLES.index(role), ROLES.index(ceiling))]


def implied_roles(role: str) -> list[str]:
    """Keystone's default implied roles: admin implies member, member implies reader."""
    return list(reversed(ROLES[: ROLES.index(role) + 1]))


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidRequest(f"the role must be one of {', '.join(ROLES)}, not {role!r}")
    return role


# Authentication and authorisation ---------------------------------------------------------


def authenticate(session: Session, presented: str | None, now: dt.datetime) -> Principal:
    """The principal of a live token, or Unauthorized (one message for every cause)."""
    if not presented:
        raise Unauthorized(
            "a token is required: send 'X-Auth-Token: <token>' or "
            "'Authorization: Bearer <token>' (see 'hearth admin token create')"
        )
    token = session.scalar(select(ApiToken).where(ApiToken.secret_hash == hash_secret(presented)))
    user = session.get(User, token.user_id) if token is not None else None
    if (
        token is None
        or user is None
        or token.revoked_at is not None
        or user.disabled_at is not None
        or (token.expires_at is not None and token.expires_at <= now)
    ):
        raise Unauthorized("the token is unknown, expired or revoked")
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_GRANULARITY:
        token.last_used_at = now
    roles = {m.project_id: m.role for m in session.scalars(select(Membership).where(Membership.user_id == user.id))}
    if token.project_id is not None:  # a Keystone token reaches its one project, at most as its role
        role = lesser_role(roles.get(token.project_id), token.role)
        roles = {token.project_id: role} if role else {}
    return Principal(user_id=user.id, user_name=user.name, token_id=token.id, roles=roles)


def authorize(principal: Principal, project: str, method: str, *, admin_only: bool = False) -> str:
    """The principal's role if it may send `method` to `project`'s API; Forbidden otherwise."""
    role = principal.role_in(project)
    if role is None:
        raise Forbidden(f"user '{principal.user_name}' has no role in project '{project}'")
    if admin_only and role != "admin":
        raise Forbidden(f"this needs the admin role in project '{project}'; user '{principal.user_name}' is {role}")
    if role == "reader" and method.upper() not in READ_METHODS:
        raise Forbidden(f"user '{principal.user_name}' is a reader in project '{project}': it may only read")
    return role


def require_cloud_admin(principal: Principal) -> None:
    if not principal.cloud_admin:
        raise Forbidden(
            f"only an admin of project '{ADMIN_PROJECT}' may manage identities "
            f"and read the audit log; user '{principal.user_name}' is not one"
        )


# Projects, users, roles -------------------------------------------------------------------


def create_project(session: Session, name: str, now: dt.datetime, project_id: str | None = None) -> Project:
    check_name("project", name)
    project_id = project_id or name
    if session.get(Project, project_id) or session.scalar(select(Project).where(Project.name == name)):
        raise Conflict(f"a project named '{name}' already exists")
    project = Project(id=project_id, name=name, created_at=now)
    session.add(project)
    return project


def find_project(session: Session, name_or_id: str) -> Project:
    project = session.get(Project, name_or_id) or session.scalar(select(Project).where(Project.name == name_or_id))
    if project is None:
        raise NotFound(f"project '{name_or_id}' not found")
    return project


def delete_project(session: Session, name_or_id: str) -> Project:
    project = find_project(session, name_or_id)
    if project.id == ADMIN_PROJECT:
        raise InvalidRequest(f"the project '{ADMIN_PROJECT}' holds the cloud admins and cannot be deleted")
    if session.scalar(select(Stack.id).where(Stack.project == project.id, Stack.deleted_at.is_(None)).limit(1)):
        raise Conflict(f"project '{project.name}' still has stacks: delete them first")
    session.execute(delete(Membership).where(Membership.project_id == project.id))
    session.execute(delete(ApplicationCredential).where(ApplicationCredential.project_id == project.id))
    session.delete(project)
    return project


def create_user(session: Session, name: str, now: dt.datetime) -> User:
    check_name("user", name)
    if session.scalar(select(User).where(User.name == name)):
        raise Conflict(f"a user named '{name}' already exists")
    user = User(id=str(uuid.uuid4()), name=name, created_at=now)
    session.add(user)
    return user


def find_user(session: Session, name_or_id: str) -> User:
    user = session.scalar(select(User).where(User.name == name_or_id)) or session.get(User, name_or_id)
    if user is None:
        raise NotFound(f"user '{name_or_id}' not found")
    return user


def delete_user(session: Session, name_or_id: str, now: dt.datetime) -> User:
    """Remove a user with its roles; its tokens and delegations are revoked (kept for the audit)."""
    user = find_user(session, name_or_id)
    if user.name == ADMIN_USER:
        raise InvalidRequest(f"the bootstrap user '{ADMIN_USER}' cannot be deleted")
    session.execute(delete(Membership).where(Membership.user_id == user.id))
    session.execute(
        update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)).values(revoked_at=now)
    )
    session.execute(
        update(Delegation).where(Delegation.user_id == user.id, Delegation.revoked_at.is_(None)).values(revoked_at=now)
    )
    session.execute(delete(ApplicationCredential).where(ApplicationCredential.user_id == user.id))
    session.delete(user)
    return user


def set_password(session: Session, user: User, password: str, now: dt.datetime) -> None:
    """Store a new password's hash; the user's tokens issued at /identity/v3 are revoked, as
    Keystone revokes a user's tokens when the password changes (API tokens stay)."""
    user.password_hash = passwords.hash_password(passwords.check_new(password))
    user.password_set_at = now
    session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.project_id.is_not(None), ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def clear_password(session: Session, user: User, now: dt.datetime) -> None:
    """The user can no longer sign in with a password (tokens issued with one are revoked)."""
    user.password_hash = None
    user.password_set_at = now
    session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.project_id.is_not(None), ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def add_role(session: Session, user_name: str, project_name: str, role: str) -> Membership:
    """Give (or change) the user's role in the project."""
    check_role(role)
    user, project = find_user(session, user_name), find_project(session, project_name)
    membership = session.get(Membership, (user.id, project.id))
    if membership is None:
        membership = Membership(user_id=user.id, project_id=project.id, role=role)
        session.add(membership)
    membership.role = role
    return membership


def remove_role(session: Session, user_name: str, project_name: str, role: str) -> None:
    check_role(role)
    user, project = find_user(session, user_name), find_project(session, project_name)
    membership = session.get(Membership, (user.id, project.id))
    if membership is None or membership.role != role:
        raise NotFound(f"user '{user.name}' does not have the role {role} in project '{project.name}'")
    session.delete(membership)


# Tokens -----------------------------------------------------------------------------------


def issue_token(
    session: Session,
    user: User,
    now: dt.datetime,
    *,
    name: str = "",
    expires_at: dt.datetime | None = None,
    secret: str | None = None,
) -> tuple[ApiToken, str]:
    """A new token for `user` (random unless `secret` is given); the secret is returned once."""
    secret = secret or new_secret(TOKEN_PREFIX)
    token = ApiToken(
        id=str(uuid.uuid4()),
        user_id=user.id,
        name=name,
        secret_hash=hash_secret(secret),
        created_at=now,
        expires_at=expires_at,
    )
    session.add(token)
    return token, secret


def revoke_token(session: Session, token_id: str, now: dt.datetime) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"token '{token_id}' not found")
    if token.revoked_at is None:
        token.revoked_at = now
    return token


# Delegations ------------------------------------------------------------------------------


def delegate(session: Session, principal: Principal, project: str, stack_id: str, now: dt.datetime) -> Delegation:
    """Record that the engine acts on `stack_id` for the principal, with its role in the project."""
    delegation = Delegation(
        id=str(uuid.uuid4()),
        user_id=principal.user_id,
        project_id=project,
        stack_id=stack_id,
        role=principal.role_in(project) or "member",
        created_at=now,
    )
    session.add(delegation)
    return delegation


def revoke_delegations(session: Session, stack_id: str, now: dt.datetime) -> list[str]:
    """Revoke the stack's live delegations; their ids."""
    ids = list(
        session.scalars(select(Delegation.id).where(Delegation.stack_id == stack_id, Delegation.revoked_at.is_(None)))
    )
    if ids:
        session.execute(update(Delegation).where(Delegation.id.in_(ids)).values(revoked_at=now))
    return ids


def delegation_revoked(session: Session, stack: Stack) -> bool:
    """True when the engine may no longer act for `stack` unattended: the (root) stack had
    delegations and none is live. A stack made through the engine directly (no person behind
    it: tests, tools) has none and is not refused."""
    root = stack
    seen = {stack.id}
    while root.owner_id and root.owner_id not in seen:
        parent = session.get(Stack, root.owner_id)
        if parent is None:
            break
        seen.add(parent.id)
        root = parent
    rows = list(session.scalars(select(Delegation.revoked_at).where(Delegation.stack_id == root.id)))
    return bool(rows) and all(revoked is not None for revoked in rows)


# First start ------------------------------------------------------------------------------


def bootstrap(session: Session, data_dir: str, now: dt.datetime, admin_token: str | None = None) -> str | None:
    """Make sure project `admin`, user `admin` (admin in it) and an admin token exist.

    With `admin_token` that token is registered (once; a revoked one stays revoked). Without it
    a random token is made on first start and written to `<data_dir>/admin-token` (0600); a
    token file left by an earlier start is registered again if the store lost it (a reset
    database). Returns the token file's path when this call wrote it.
    """
    if session.get(Project, ADMIN_PROJECT) is None:
        session.add(Project(id=ADMIN_PROJECT, name=ADMIN_PROJECT, created_at=now))
    user = session.scalar(select(User).where(User.name == ADMIN_USER))
    if user is None:
        user = User(id=str(uuid.uuid4()), name=ADMIN_USER, created_at=now)
        session.add(user)
        session.flush()
    if session.get(Membership, (user.id, ADMIN_PROJECT)) is None:
        session.add(Membership(user_id=user.id, project_id=ADMIN_PROJECT, role="admin"))
    path = Path(data_dir) / TOKEN_FILE
    if admin_token:
        _register(session, user, admin_token, "admin-token option", now)
        return None
    if path.exists():
        _register(session, user, path.read_text().strip(), "admin-token file", now)
        return None
    _token, secret = issue_token(session, user, now, name="first start")
    audit.record(
        session,
        action="token.issue",
        actor="hearth",
        subject=_token.id,
        detail={"user": ADMIN_USER, "reason": "first start"},
        now=now,
    )
    write_private(path, secret + "\n")
    return str(path)


def _register(session: Session, user: User, secret: str, name: str, now: dt.datetime) -> None:
    if not secret:
        return
    existing = session.scalar(select(ApiToken).where(ApiToken.secret_hash == hash_secret(secret)))
    if existing is None:
        token, _ = issue_token(session, user, now, name=name, secret=secret)
        audit.record(
            session,
            action="token.issue",
            actor="hearth",
            subject=token.id,
            detail={"user": user.name, "reason": name},
            now=now,
        )
    elif existing.revoked_at is not None:
        log.warning("the configured admin token (%s) was revoked; it stays revoked", existing.id)
