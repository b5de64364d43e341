"""POLL_SERVER_HEAT and HEAT_SIGNAL: Keystone v3 for guests and two Heat routes; touches the store
(credentials, servers, deployments, audit), wakes the scheduler; no server app.

POLL_SERVER_HEAT and HEAT_SIGNAL: Keystone v3 at /identity for guest principals (people are handed
to engine/signin.py) and the two Heat routes a guest token calls.

os-collect-config's `heat` collector and heat-agents' `heat-config-notify` authenticate with
Keystone v3 password auth (user id, password, project id), take the `orchestration` endpoint
from the token's catalog and call exactly one Heat route each: a server resource's metadata,
or a deployment resource's signal. Hearth answers them for its own guest principals only:

- a **user** is a guest credential (engine/guest/credentials.py): the user id is the credential id,
  the password its secret (checked by its hash). Two kinds log in: `server-heat` (a server's
  POLL_SERVER_HEAT principal, named in its `os-collect-config.heat.user_id`) and `deployment`
  (a HEAT_SIGNAL deployment's own principal);
- a **token** is stateless: the credential's secret, id, project and expiry sealed with the
  installation keyring (`hgk_<fernet>`), valid for TOKEN_TTL. Every use opens it and checks
  the credential again, so a revoked credential (server deleted, transport switched away,
  deployment deleted) stops its tokens at once. No table is added;
- a token reaches the metadata of its own server (`server-heat`) or the signal of its own
  deployment (`deployment`), and nothing else.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography.fernet import InvalidToken
from sqlalchemy import select

from engine import audit, keystone_request, secrets, signin
from engine.application_credentials import ApplicationCredentials
from engine.errors import Forbidden, NotFound, Unauthorized
from engine.guest import credentials, liveness, traces, urls
from engine.guest.credentials import GuestAuth
from engine.guest.transports.contract import Built, ServerPlace
from engine.runtime import Runtime, iso, keystone_iso
from engine.store.crypto import hash_secret, new_secret
from engine.store.models import Credential, Deployment, Server, Stack

if TYPE_CHECKING:  # the guest service makes this one, handing itself over
    from engine.guest.service import GuestService

OWNS = "heat"  # the os-collect-config subsection this transport fills
TOKEN_TTL = 3600  # seconds a guest Keystone token lives (Keystone's default is one hour)
TOKEN_PREFIX = "hgk_"
ROLE = "heat_stack_user"
REGION = "RegionOne"
DOMAIN = {"id": "default", "name": "Default"}
# The credential kinds that may log in, and what each reaches.
SERVER_KIND = "server-heat"
DEPLOYMENT_KIND = "deployment"
ZAQAR_KIND = "server-zaqar"  # a ZAQAR_MESSAGE server's user (engine/guest/transports/zaqar.py)
LOGIN_KINDS = (SERVER_KIND, DEPLOYMENT_KIND, ZAQAR_KIND)
SERVER_KINDS = (SERVER_KIND, ZAQAR_KIND)
VERSION_ID = "v3.14"
MEDIA_TYPES = [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]
# One answer for every failed sign-in, guest or person (engine/signin.py): it does not tell a
# guest credential's id from a user's. Guests find their user_id and password in the server's
# current os-collect-config `heat` section or the deployment's deploy_* inputs.
BAD_LOGIN = signin.BAD_LOGIN
BAD_TOKEN = (
    "the token is unknown, expired or no longer valid (its guest credential was revoked): "
    "get a new one with POST /identity/v3/auth/tokens"
)
WRONG_TARGET = (
    "a guest token reaches only its own server's resource metadata (POLL_SERVER_HEAT) "
    "or its own deployment's signal (HEAT_SIGNAL); this request is for something else"
)


def auth_url(runtime: Runtime) -> str:
    """What guests are given as `auth_url` / `deploy_auth_url`."""
    return urls.keystone_auth_url(runtime.public_url)


def version_document(base_url: str) -> dict:
    return {
        "id": VERSION_ID,
        "status": "stable",
        "updated": "2019-01-22T00:00:00Z",
        "links": [{"rel": "self", "href": f"{base_url}/identity/v3/"}],
        "media-types": MEDIA_TYPES,
    }


def credential_id(session, secret: str) -> str | None:
    """The id (Keystone user id) of the credential whose secret is `secret`."""
    return session.scalar(select(Credential.id).where(Credential.secret_hash == hash_secret(secret)))


@dataclass(frozen=True)
class GuestToken:
    """An opened token: the credential it stands for and when it expires."""

    secret: str
    credential_id: str
    project: str
    issued_at: dt.datetime
    expires_at: dt.datetime


class KeystoneService:
    """Keystone's auth/tokens for guest credentials, and the two Heat calls a token may make."""

    def __init__(self, runtime: Runtime, guest: GuestService):
        self.runtime = runtime
        self.guest = guest
        self.people = signin.PeopleKeystone(runtime)
        self._application_credentials: ApplicationCredentials | None = None

    @property
    def application_credentials(self) -> ApplicationCredentials:
        """A person's own application credentials, signed in through this Keystone."""
        if self._application_credentials is None:
            self._application_credentials = ApplicationCredentials(self.runtime, self.people)
        return self._application_credentials

    version_document = staticmethod(version_document)

    # Tokens ---------------------------------------------------------------------------------
    def issue_token(
        self,
        body: Any,
        remote_addr: str | None = None,
        *,
        guests: bool = True,
        people: bool = True,
        api_url: str | None = None,
    ) -> tuple[str, dict]:
        """Keystone's POST auth/tokens: (token, token body). A person (a Hearth user, by name or
        id, or an application credential) signs in through engine/signin.py where `people`
        are served (a listener with the orchestration API), a guest credential (by id) here
        where `guests` are; anyone else gets the same 401 as a wrong password."""
        request = keystone_request.parse(body)
        if people and self.people.is_person(request):
            signed = self.people.sign_in(request, api_url or self.runtime.api_url, remote_addr)
            return signed.token, signed.body
        if not guests or request.method != keystone_request.PASSWORD or not request.user_id:
            error = signin.refused("not a user or guest credential this listener signs in")
            audit.record_refusal(
                self.runtime, error, api="keystone", operation="token", remote_addr=remote_addr, why=error.audit_reason
            )
            raise error
        return self._guest_token(request, remote_addr)

    def _guest_token(self, request: keystone_request.AuthRequest, remote_addr: str | None) -> tuple[str, dict]:
        """Password auth by a guest credential's id, scoped to its project by id."""
        runtime, now = self.runtime, self.runtime.now()
        user_id, password = request.user_id, request.secret
        try:
            if not request.project_id:
                raise credentials.refusal(
                    Unauthorized,
                    'scope the token to a project by id ({"scope": {"project": {"id": <project_id you were given>}}})',
                )
            with runtime.store.session() as session:
                row = (
                    session.scalar(select(Credential).where(Credential.secret_hash == hash_secret(password)))
                    if password
                    else None
                )
                if row is None or row.id != user_id:
                    raise credentials.refusal(Unauthorized, BAD_LOGIN)
                if row.revoked_at is not None or row.expires_at <= now or row.kind not in LOGIN_KINDS:
                    raise credentials.refusal(Unauthorized, BAD_LOGIN, row.id)
                project = self._project_of(session, row)
                if request.project_id != project:
                    raise credentials.refusal(
                        Unauthorized,
                        "the guest user has no role on that project: "
                        f"scope the token to project id '{project}' "
                        "(the project_id you were given)",
                        row.id,
                    )
                expires = min(now + dt.timedelta(seconds=TOKEN_TTL), row.expires_at)
                token = self._seal(password, row.id, project, now, expires)
                answer = self._token_body(row, project, now, expires)
                audit.record(
                    session,
                    action="keystone.token",
                    actor=row.id,
                    subject=row.subject_id,
                    detail={"kind": row.kind, "expires_at": iso(expires)},
                    now=now,
                )
        except Unauthorized as error:
            audit.record_refusal(
                self.runtime, error, api="keystone", operation="token", subject=user_id, remote_addr=remote_addr
            )
            raise
        return token, answer

    def validate_token(
        self, token: str | None, subject: str | None, remote_addr: str | None = None, *, api_url: str | None = None
    ) -> dict:
        """Keystone's GET auth/tokens: the body of `subject` when both tokens are live. A
        person's token is validated by itself or a cloud admin (engine/signin.py)."""
        if not self.is_guest_token(subject):
            with self._refusals(None, "token validation", remote_addr):
                return self.people.validate(token, subject, api_url or self.runtime.api_url)
        with self._refusals(None, "token validation", remote_addr):
            self.open_token(token)
            opened = self.open_token(subject)
            with self.runtime.store.session() as session:
                row = session.get(Credential, opened.credential_id)
                return self._token_body(row, opened.project, opened.issued_at, opened.expires_at)

    def revoke_token(self, token: str | None, subject: str | None, remote_addr: str | None = None) -> None:
        """Keystone's DELETE auth/tokens, for people's tokens. A guest token is stateless: it
        ends with its credential (the server, the deployment or the transport going away)."""
        with self._refusals(None, "token revocation", remote_addr):
            if self.is_guest_token(subject):
                raise credentials.refusal(
                    Forbidden, "a guest token cannot be revoked by itself: it ends when its guest credential is revoked"
                )
            self.people.revoke(token, subject)

    def open_token(self, token: str | None) -> GuestToken:
        """The live token's contents, or Unauthorized (one message for every cause)."""
        if not token or not token.startswith(TOKEN_PREFIX):
            raise credentials.refusal(Unauthorized, BAD_TOKEN)
        try:
            claims = secrets.open_claims(self.runtime.keyring, token[len(TOKEN_PREFIX) :])
        except (InvalidToken, ValueError, TypeError):
            raise credentials.refusal(Unauthorized, BAD_TOKEN) from None
        opened = GuestToken(
            secret=claims["s"],
            credential_id=claims["c"],
            project=claims["p"],
            issued_at=dt.datetime.fromtimestamp(claims["i"], dt.UTC).replace(tzinfo=None),
            expires_at=dt.datetime.fromtimestamp(claims["e"], dt.UTC).replace(tzinfo=None),
        )
        if opened.expires_at <= self.runtime.now():
            raise credentials.refusal(Unauthorized, BAD_TOKEN, opened.credential_id)
        return opened

    @staticmethod
    def is_guest_token(token: str | None) -> bool:
        return bool(token) and token.startswith(TOKEN_PREFIX)

    def _seal(self, secret: str, credential_id_: str, project: str, now: dt.datetime, expires: dt.datetime) -> str:
        claims = {
            "s": secret,
            "c": credential_id_,
            "p": project,
            "i": int(now.replace(tzinfo=dt.UTC).timestamp()),
            "e": int(expires.replace(tzinfo=dt.UTC).timestamp()),
        }
        return TOKEN_PREFIX + secrets.seal_claims(self.runtime.keyring, claims)

    def _project_of(self, session, row: Credential) -> str | None:
        stack = session.get(Stack, row.stack_id) if row.stack_id else None
        if stack is not None:
            return stack.project
        owner = (
            session.get(Server, row.subject_id) if row.kind in SERVER_KINDS else session.get(Deployment, row.subject_id)
        )
        return owner.project if owner is not None else None

    def _token_body(self, row: Credential, project: str, issued: dt.datetime, expires: dt.datetime) -> dict:
        endpoints = self._endpoints(urls.heat_endpoint(self.runtime.public_url, project))
        audit_id = hashlib.sha256(f"{row.id}:{issued.isoformat()}".encode()).hexdigest()[:22]
        return {
            "token": {
                "methods": ["password"],
                "user": {"id": row.id, "name": row.id, "domain": DOMAIN, "password_expires_at": None},
                "project": {"id": project, "name": project, "domain": DOMAIN},
                "roles": [{"id": hashlib.sha256(ROLE.encode()).hexdigest()[:32], "name": ROLE}],
                "is_domain": False,
                "audit_ids": [audit_id],
                "issued_at": keystone_iso(issued),
                "expires_at": keystone_iso(expires),
                "catalog": [
                    {"type": "orchestration", "name": "heat", "id": "orchestration", "endpoints": endpoints},
                    # ZAQAR_MESSAGE / ZAQAR_SIGNAL: Zaqar's API (engine/guest/queues.py).
                    {
                        "type": "messaging",
                        "name": "zaqar",
                        "id": "messaging",
                        "endpoints": self._endpoints(urls.messaging_endpoint(self.runtime.public_url)),
                    },
                ],
            }
        }

    @staticmethod
    def _endpoints(url: str) -> list[dict]:
        return [
            {
                "id": hashlib.sha256(f"{interface}:{url}".encode()).hexdigest()[:32],
                "interface": interface,
                "region": REGION,
                "region_id": REGION,
                "url": url,
            }
            for interface in ("public", "internal", "admin")
        ]

    # The two Heat calls ---------------------------------------------------------------------
    def resource_metadata(
        self,
        token: str | None,
        project: str,
        stack_name: str,
        stack_id: str,
        resource: str,
        remote_addr: str | None = None,
    ) -> dict:
        """The server's whole metadata document, opened, for its own POLL_SERVER_HEAT token."""
        runtime, now = self.runtime, self.runtime.now()
        first_contact = None
        with self._refusals(None, "resource metadata", remote_addr):
            opened = self.open_token(token)
            with runtime.store.session() as session:
                row = credentials.authenticate(session, opened.secret, now)
                server = session.get(Server, row.subject_id) if row.kind == SERVER_KIND else None
                if server is None or server.deleted_at is not None or opened.project != project:
                    raise credentials.refusal(Forbidden, WRONG_TARGET, row.id)
                # Only the principal named in the server's current `heat` section: switching
                # the transport away (which nulls that section) ends it.
                occ = secrets.open_section(runtime.keyring, (server.metadata_doc or {}).get("os-collect-config") or {})
                named = (occ.get("heat") or {}).get("user_id") if isinstance(occ, dict) else None
                if named != row.id:
                    raise credentials.refusal(
                        Forbidden,
                        "this server no longer polls through "
                        "POLL_SERVER_HEAT with this user: use the server's current "
                        "os-collect-config section",
                        row.id,
                    )
                self._require_resource(
                    session, server.stack_id, server.resource_name, project, stack_name, stack_id, resource, row.id
                )
                if liveness.seen(runtime, server, now) and server.stack_id:
                    first_contact = (server.stack_id, server.resource_name)
                doc = traces.heat_shaped(secrets.open_document(runtime.keyring, server.metadata_doc))
                runtime.delivered(server.id, server.metadata_version)
        if first_contact:
            runtime.wake(*first_contact)
        return doc

    def signal(
        self,
        token: str | None,
        project: str,
        stack_name: str,
        stack_id: str,
        resource: str,
        body: Any,
        remote_addr: str | None = None,
    ) -> dict:
        """A deployment's HEAT_SIGNAL: the same as its guest signal, for its own token."""
        runtime, now = self.runtime, self.runtime.now()
        with self._refusals(None, "resource signal", remote_addr):
            opened = self.open_token(token)
            with runtime.store.session() as session:
                row = credentials.authenticate(session, opened.secret, now)
                deployment = session.get(Deployment, row.subject_id) if row.kind == DEPLOYMENT_KIND else None
                if deployment is None or opened.project != project:
                    raise credentials.refusal(Forbidden, WRONG_TARGET, row.id)
                self._require_resource(
                    session,
                    deployment.stack_id,
                    deployment.resource_name,
                    project,
                    stack_name,
                    stack_id,
                    resource,
                    row.id,
                )
                entry_id = deployment.config_id
        if not entry_id:
            raise NotFound(f"deployment resource '{resource}' has nothing to signal")
        return self.guest.signal_deployment(GuestAuth(bearer=opened.secret, remote_addr=remote_addr), entry_id, body)

    @staticmethod
    def _require_resource(
        session,
        owner_stack: str | None,
        owner_resource: str | None,
        project: str,
        stack_name: str,
        stack_id: str,
        resource: str,
        actor: str,
    ) -> None:
        stack = session.get(Stack, owner_stack) if owner_stack else None
        if (
            stack is None
            or stack.project != project
            or stack_id not in (stack.id, stack.name)
            or stack_name != stack.name
            or resource != owner_resource
        ):
            raise credentials.refusal(Forbidden, WRONG_TARGET, actor)

    # Audit ----------------------------------------------------------------------------------
    def _refusals(self, subject, what, remote_addr):
        return audit.refusals_recorded(
            self.runtime, api="keystone", operation=what, subject=subject, remote_addr=remote_addr
        )


# The POLL_SERVER_HEAT principal of a server ------------------------------------------------


def section(server: ServerPlace, current: dict) -> Built:
    """Heat's `os-collect-config.heat` subsection for the server (an OS::Nova::Server's):
    `{user_id, password, auth_url, project_id, stack_id: "<name>/<id>", resource_name,
    region_name}`.

    The user is a `server-heat` credential of this server (revoked with it by
    credentials.revoke_subject). A live one already in `current` is kept (the guest has it
    configured). Otherwise a new one is made and its row returned for the caller's unit of work."""
    runtime, now = server.runtime, server.now
    section = {
        "auth_url": auth_url(runtime),
        "project_id": server.project,
        "stack_id": f"{server.stack_name}/{server.stack_id}",
        "resource_name": server.resource_name,
        "region_name": REGION,
    }
    user_id, password = current.get("user_id"), current.get("password")
    if user_id and password and _is_live(runtime, user_id, password, server.server_id, now):
        return Built({"user_id": user_id, "password": password, **section})
    user_id, password = str(uuid.uuid4()), new_secret("hgs_")
    row = credentials.NewCredential(
        credential_id=user_id,
        kind=SERVER_KIND,
        subject_id=server.server_id,
        stack_id=server.stack_id,
        secret_hash=hash_secret(password),
        expires_at=now + dt.timedelta(seconds=runtime.config.credential_ttl),
        issued_at=now,
    )
    return Built({"user_id": user_id, "password": password, **section}, (row,))


def _is_live(runtime: Runtime, user_id: str, password: str, server_id: str, now: dt.datetime) -> bool:
    with runtime.store.session() as session:
        row = session.get(Credential, user_id)
        return (
            row is not None
            and row.kind == SERVER_KIND
            and row.subject_id == server_id
            and row.secret_hash == hash_secret(password)
            and row.revoked_at is None
            and row.expires_at > now
        )
