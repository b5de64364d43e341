"""POLL_SERVER_CFN: EC2-style key pairs, AWS signatures, DescribeStackResource; touches the store
(credentials, servers, resources, audit), wakes the scheduler; no server app.

POLL_SERVER_CFN: EC2-style access key pairs scoped to one server, AWS request signatures and the CFN
DescribeStackResource answer.

Heat's default metadata transport gives each server an EC2 key pair (an access key id of 32
hex characters and a secret access key) that reads only that server's resource metadata
through the CloudFormation `DescribeStackResource` action. Two stock clients use it:
os-collect-config's `cfn` collector signs with EC2 signature version 2 (query parameters,
HmacSHA256, no timestamp), and heat-cfntools (`cfn-get-metadata`, `cfn-init`, `cfn-hup`, via
boto) with signature version 4 (`Authorization: AWS4-HMAC-SHA256 ...`, `X-Amz-Date`).

Where the secret lives: **sealed in the server's metadata document**. The secret must be
readable to check an HMAC, so it is not stored in clear anywhere: the server's
`os-collect-config.cfn.secret_access_key` is sealed at rest with the installation keyring
(engine/secrets.py SEALED_SECTION_KEYS; key rotation is MultiFernet's), and that is the
only copy. The `credentials` row (kind `ec2`, id = the access key id, subject = the server)
holds a hash of the secret, domain-separated (`sha256("ec2:" + secret)`) so that the secret can
never be presented as a guest bearer credential; it is compared with the sealed copy on every
request, and it is what revocation marks.

Lifetime: a stock image cannot rotate keys, so the key has no expiry of its own. It dies when
(a) the server is deleted (credentials.revoke_subject revokes every kind), (b) the server's
current metadata no longer names it in `os-collect-config.cfn.access_key_id` (the transport
was switched away: Heat nulls the section's keys; the old row is also revoked when a new key is
issued), exactly as temp_url.py serves only the URL in the current section.

Signature checks:
- v2: `VERB\\nhost\\npath\\ncanonical query` (every parameter but Signature, sorted, keys fully
  percent-encoded, values leaving `-_.~`), HmacSHA256 or HmacSHA1, base64. The host is tried as
  sent (with its port) and then without the port, as Keystone's ec2tokens does; the path as sent
  (decoded and raw). A `Timestamp` is not checked: the cfn collector sends none, and Heat's
  15-minute check is what broke pre-signed URLs on clock skew.
- v4: the scope (date/region/service) is taken from the header, since boto derives it from
  the host name (`0/127` for 127.0.0.1); the signed headers are those listed; `X-Amz-Date` must
  be within SIGV4_CLOCK_SKEW of our clock and on the scope's date. Query-string v4
  (`X-Amz-Algorithm`) is not accepted: no stock Heat client sends it.
Every comparison is hmac.compare_digest; every refusal is audited (`auth.failed`, api `cfn`),
naming the key by its access key id, never the secret or the signature.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import posixpath
import secrets
from dataclasses import dataclass, field
from urllib.parse import quote

from sqlalchemy import select

from engine import (
    audit,
    secrets as sealing,  # `secrets` is the standard library's here
)
from engine.errors import Forbidden, InvalidRequest, NotFound
from engine.guest import credentials, liveness, traces, urls
from engine.guest.transports.contract import Built, ServerPlace
from engine.runtime import iso
from engine.store.crypto import hash_secret
from engine.store.models import Credential, Resource, Server, Stack

OWNS = "cfn"  # the os-collect-config subsection this transport fills
KIND = "ec2"
# A key pair lives as long as its server uses this transport: no expiry of its own.
NEVER = dt.datetime(9999, 12, 31)  # noqa: DTZ001 - the store keeps naive UTC times
SIGV4_CLOCK_SKEW = dt.timedelta(minutes=15)
SIGV4_ALGORITHM = "AWS4-HMAC-SHA256"
SIGV2_METHODS = {"HmacSHA256": hashlib.sha256, "HmacSHA1": hashlib.sha1}
DENIED = (
    "the request signature or access key is not valid for this server: sign with the "
    "access_key_id and secret_access_key of the server's current os_collect_config 'cfn' "
    "section (a key dies when its server is deleted or its software_config_transport "
    "changes)"
)


# -- key pairs -----------------------------------------------------------------------------


def new_key_pair() -> tuple[str, str]:
    """(access key id, secret access key): 32 hex characters each, as Keystone makes Heat's.

    Hex, not URL-safe base64: a secret that begins with '-' is taken for an option by
    cfn-get-metadata/cfn-signal when a user-data script passes it as `--secret-key $KEY`.
    """
    return secrets.token_hex(16), secrets.token_hex(16)


def secret_digest(secret: str) -> str:
    """What the credentials row keeps: never equal to a bearer credential's hash."""
    return hash_secret(f"{KIND}:{secret}")


def is_live(runtime, access_key_id: str | None, server_id: str) -> bool:
    if not isinstance(access_key_id, str) or not access_key_id:
        return False
    with runtime.store.session() as session:
        row = session.get(Credential, access_key_id)
        return row is not None and row.kind == KIND and row.subject_id == server_id and row.revoked_at is None


def section(server: ServerPlace, current: dict) -> Built:
    """Heat's `os-collect-config.cfn` subsection for the server (an OS::Nova::Server's).

    A live key already in `current` is kept (the guest has it configured). Otherwise a new key
    pair is made, and its row (replacing the server's older ec2 keys when `current` had one) is
    returned for the caller's unit of work."""
    runtime = server.runtime
    if current.get("secret_access_key") and is_live(runtime, current.get("access_key_id"), server.server_id):
        return Built(current)
    access_key_id, secret = new_key_pair()
    row = credentials.NewCredential(
        credential_id=access_key_id,
        kind=KIND,
        subject_id=server.server_id,
        stack_id=server.stack_id,
        secret_hash=secret_digest(secret),
        expires_at=NEVER,
        issued_at=server.now,
        replaces=bool(current),
    )
    return Built(
        {
            "metadata_url": urls.cfn_url(runtime.public_url),
            "access_key_id": access_key_id,
            "secret_access_key": secret,
            "stack_name": server.stack_name,
            "path": f"{server.resource_name}.Metadata",
        },
        (row,),
    )


# -- signatures ----------------------------------------------------------------------------


@dataclass
class SignedRequest:
    """What a signature covers, as the HTTP layer received it."""

    method: str
    host: str  # the Host header as sent
    path: str  # decoded
    raw_path: str | None = None  # percent-encoded as sent, when the server knows it
    params: dict[str, str] = field(default_factory=dict)  # the query parameters (v2: all of them)
    query: dict[str, str] = field(default_factory=dict)  # the URL's own query (v4)
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""
    remote_addr: str | None = None

    @property
    def paths(self) -> list[str]:
        return [p for p in dict.fromkeys([self.path, self.raw_path]) if p]

    @property
    def hosts(self) -> list[str]:
        head, _, port = self.host.rpartition(":")
        bare = head if head and port.isdigit() and not head.endswith(":") else self.host
        return list(dict.fromkeys([self.host, bare]))


def canonical_query_v2(params: dict[str, str]) -> str:
    return "&".join(
        f"{quote(k, safe='')}={quote(v, safe='-_~')}" for k, v in sorted(params.items()) if k != "Signature"
    )


def sign_v2(
    secret: str, method: str, host: str, path: str, params: dict[str, str], signature_method: str = "HmacSHA256"
) -> str:
    """EC2 signature version 2 (keystoneclient's Ec2Signer computes the same)."""
    text = f"{method.upper()}\n{host}\n{path}\n{canonical_query_v2(params)}"
    digest = hmac.new(secret.encode(), text.encode(), SIGV2_METHODS[signature_method]).digest()
    return base64.b64encode(digest).decode()


def canonical_uri_v4(path: str) -> str:
    """The path as boto 2 canonicalises it: normalised, quoted, trailing slash kept."""
    encoded = quote(posixpath.normpath(path) or "/")
    return encoded + "/" if len(path) > 1 and path.endswith("/") and not encoded.endswith("/") else encoded


def canonical_request_v4(
    method: str, path: str, query: dict[str, str], headers: dict[str, str], signed: list[str], body: bytes
) -> str:
    canonical_query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(query.items()))
    lines = [f"{name}:{' '.join(str(headers.get(name, '')).strip().split())}" for name in sorted(signed)]
    return "\n".join(
        [
            method.upper(),
            path,
            canonical_query,
            "\n".join(lines) + "\n",
            ";".join(sorted(signed)),
            hashlib.sha256(body).hexdigest(),
        ]
    )


def sign_v4(secret: str, amz_date: str, scope: str, canonical_request: str) -> str:
    """AWS signature version 4 over a canonical request; `scope` is date/region/service/aws4_request."""

    def mac(key: bytes, text: str) -> bytes:
        return hmac.new(key, text.encode(), hashlib.sha256).digest()

    date, region, service, terminator = scope.split("/")
    key = mac(mac(mac(mac(("AWS4" + secret).encode(), date), region), service), terminator)
    text = "\n".join([SIGV4_ALGORITHM, amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()])
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def _same(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), (given or "").encode("utf-8", "replace"))


@dataclass
class _Claim:
    version: str  # "sigv2" | "sigv4"
    access_key_id: str | None
    check: object  # callable(secret) -> None, or raises Forbidden


def _denied(actor: str, why: str = DENIED) -> Forbidden:
    return credentials.refusal(Forbidden, why, actor)


def parse_claim(req: SignedRequest, now: dt.datetime) -> _Claim:
    """Which signature the request carries and how to check it against a secret."""
    authorization = req.headers.get("authorization", "")
    if authorization.startswith(SIGV4_ALGORITHM):
        return _claim_v4(req, authorization, now)
    if req.params.get("Signature") is not None:
        return _claim_v2(req)
    raise _denied(
        "anonymous",
        "the request is not signed: send an EC2 signature version 2 "
        "(AWSAccessKeyId, SignatureVersion=2, SignatureMethod, Signature) or "
        "an 'Authorization: AWS4-HMAC-SHA256 ...' header with X-Amz-Date",
    )


def _claim_v2(req: SignedRequest) -> _Claim:
    access = req.params.get("AWSAccessKeyId")
    actor = access or "anonymous"
    if req.params.get("SignatureVersion") != "2":
        raise _denied(actor, "only EC2 signature version 2 (SignatureVersion=2) or 4 is accepted")
    method = req.params.get("SignatureMethod", "HmacSHA256")
    if method not in SIGV2_METHODS:
        raise _denied(actor, "SignatureMethod must be HmacSHA256 or HmacSHA1")

    def check(secret: str) -> None:
        given = req.params.get("Signature", "")
        for host in req.hosts:
            for path in req.paths:
                if _same(sign_v2(secret, req.method, host, path, req.params, method), given):
                    return
        raise _denied(actor)

    return _Claim("sigv2", access, check)


def _claim_v4(req: SignedRequest, authorization: str, now: dt.datetime) -> _Claim:
    fields: dict[str, str] = {}
    for part in authorization[len(SIGV4_ALGORITHM) :].split(","):
        name, _, value = part.strip().partition("=")
        fields[name.strip()] = value.strip()
    credential = fields.get("Credential", "").split("/")
    access = credential[0] if len(credential) == 5 and credential[0] else None
    actor = access or "anonymous"
    signed = [h.strip().lower() for h in fields.get("SignedHeaders", "").split(";") if h.strip()]
    if access is None or credential[4] != "aws4_request" or not fields.get("Signature") or "host" not in signed:
        raise _denied(
            actor,
            "the AWS4-HMAC-SHA256 Authorization header is malformed: it needs "
            "Credential=<key>/<date>/<region>/<service>/aws4_request, SignedHeaders "
            "including host, and Signature",
        )
    amz_date = req.headers.get("x-amz-date", "")
    try:
        moment = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")  # noqa: DTZ007 - the Z is UTC, kept naive
    except ValueError:
        raise _denied(actor, "a signature version 4 request needs an X-Amz-Date header (YYYYMMDDTHHMMSSZ)") from None
    if abs(moment - now) > SIGV4_CLOCK_SKEW or credential[1] != amz_date[:8]:
        raise _denied(
            actor,
            f"X-Amz-Date is more than {int(SIGV4_CLOCK_SKEW.total_seconds() // 60)} "
            "minutes from the server's clock (or not the scope's date): check the "
            "guest's clock",
        )
    if "x-amz-date" not in signed:
        raise _denied(actor, "X-Amz-Date must be one of the SignedHeaders")
    scope = "/".join(credential[1:])

    def check(secret: str) -> None:
        for path in dict.fromkeys([canonical_uri_v4(req.path), *req.paths]):
            canonical = canonical_request_v4(req.method, path, req.query, req.headers, signed, req.body)
            if _same(sign_v4(secret, amz_date, scope, canonical), fields["Signature"]):
                return
        raise _denied(actor)

    return _Claim("sigv4", access, check)


# -- the CFN DescribeStackResource action ----------------------------------------------------


def authenticate(session, keyring, req: SignedRequest, now: dt.datetime) -> tuple[str, Server, dict]:
    """(access key id, server row, its opened metadata document) for a request signed by a live key of that
    server, or Forbidden (one message for every cause: unknown, revoked, superseded, forged)."""
    claim = parse_claim(req, now)
    actor = claim.access_key_id or "anonymous"
    row = session.get(Credential, claim.access_key_id) if claim.access_key_id else None
    if row is None or row.kind != KIND or row.revoked_at is not None or row.expires_at <= now:
        raise _denied(actor if row is not None else "anonymous")
    server = session.get(Server, row.subject_id)
    if server is None or server.deleted_at is not None:
        raise _denied(actor)
    doc = traces.heat_shaped(sealing.open_document(keyring, server.metadata_doc or {}))
    occ = doc.get("os-collect-config") if isinstance(doc.get("os-collect-config"), dict) else {}
    cfn = occ.get("cfn") if isinstance(occ.get("cfn"), dict) else {}
    secret = cfn.get("secret_access_key")
    if (
        cfn.get("access_key_id") != row.id
        or not isinstance(secret, str)
        or not hmac.compare_digest(secret_digest(secret), row.secret_hash)
    ):
        raise _denied(actor)  # the transport was switched away, or a new key issued
    claim.check(secret)
    return row.id, server, doc


def describe_stack_resource(
    runtime, req: SignedRequest, stack_name: str | None, logical_resource_id: str | None
) -> dict:
    """Heat's StackResourceDetail for the server the request's key belongs to, with `Metadata`
    its whole metadata document (opened, as the guest metadata route gives it). The key reads
    only its own server: StackName (name or id) and LogicalResourceId must name it."""
    now = runtime.now()
    try:
        with runtime.store.session() as session:
            access_key_id, server, doc = authenticate(session, runtime.keyring, req, now)
            stack = session.get(Stack, server.stack_id) if server.stack_id else None
            if stack is None or stack_name not in (stack.name, stack.id) or logical_resource_id != server.resource_name:
                raise _denied(
                    access_key_id,
                    "this access key reads only its own server's metadata: StackName "
                    "and LogicalResourceId must name that server's stack and resource, "
                    "as in its os_collect_config 'cfn' section",
                )
            resource = session.scalar(
                select(Resource).where(Resource.stack_id == stack.id, Resource.name == server.resource_name)
            )
            if resource is None:
                raise NotFound(f"resource '{logical_resource_id}' not found in stack '{stack.name}'")
            updated = resource.updated_at or resource.created_at
            # The first contact is woken once it is committed (below), wherever the owner runs.
            first_contact = (server.stack_id, server.resource_name) if liveness.seen(runtime, server, now) else None
            answer = {
                "StackId": f"arn:openstack:heat::{stack.project}:stacks/{stack.name}/{stack.id}",
                "StackName": stack.name,
                "LogicalResourceId": resource.name,
                "PhysicalResourceId": resource.physical_id or "",
                "ResourceType": resource.type,
                "ResourceStatus": f"{resource.action}_{resource.status}",
                "ResourceStatusReason": resource.status_reason or "",
                "Description": "",
                "LastUpdatedTimestamp": iso(updated),
                "Metadata": doc,
            }
        runtime.delivered(server.id, server.metadata_version)
        if first_contact is not None:
            runtime.wake(*first_contact)
        return answer
    except Forbidden as error:
        audit.record_refusal(
            runtime,
            error,
            api="cfn",
            operation="DescribeStackResource",
            remote_addr=req.remote_addr,
            via=signature_kind(req),
        )
        raise


def signature_kind(req: SignedRequest) -> str:
    """How the request is signed, for an audit record: sigv4, sigv2 or none."""
    if req.headers.get("authorization", "").startswith(SIGV4_ALGORITHM):
        return "sigv4"
    return "sigv2" if req.params.get("Signature") is not None else "none"


# What /v1/ answers: CloudFormation's one guest action, and CloudWatch's PutMetricData, which
# heat-cfntools' cfn-push-stats sends to the same path (engine/guest/metric_samples.py).
ACTIONS = ("DescribeStackResource", "PutMetricData")


def check_action(action: str | None) -> None:
    if action not in ACTIONS:
        raise InvalidRequest(
            f"Action '{action}' is not supported here: this CloudFormation and CloudWatch API "
            "subset answers only Action=DescribeStackResource and Action=PutMetricData"
        )
