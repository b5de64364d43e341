"""GuestService, the guest API's operations: touches the store (with audit rows), the notifier (it
blocks in the long-poll) and the scheduler's wake; nothing of the server app.

GuestService, the guest API's operations: metadata long-poll, deployment signals, progress,
wait-condition signals and credential rotation.

Every operation authenticates first: a bearer credential scoped to one server or handle, or a
pre-signed URL. A signal is answered only after it is stored; the scheduler is then woken.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from engine import secrets
from engine.errors import Conflict, Forbidden, InvalidRequest, NotFound, Unauthorized
from engine.guest import credentials, enrol, liveness, metric_samples, metrics, signals, traces, urls
from engine.guest.credentials import GuestAuth
from engine.guest.facts import GuestFacts
from engine.guest.queues import QueueService
from engine.guest.transports import cfn, heat, temp_url
from engine.runtime import Runtime, iso
from engine.store.db import among, update_rows
from engine.store.models import (
    Credential,
    Deployment,
    Resource,
    Server,
    SoftwareConfig,
    Stack,
)
from engine.telemetry import instruments as telemetry

# The credentials a guest rotates itself (agent/rotation.py): the server's own (bootstrap) and a
# handle's. The others are handed to stock clients that cannot rotate (engine/guest/transports/).
ROTATABLE_KINDS = ("server", "handle")


class GuestService:
    """What the guest API's views call (metadata_server/guest/): they reach the guest side
    through this object alone."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self._keystone: heat.KeystoneService | None = None
        self._queues: QueueService | None = None
        self.sample_budget = metrics.SampleBudget()  # metric samples per server, this replica's count
        self.facts = GuestFacts(runtime)  # the stack's facts, read and written by its servers

    # Reaching the transports ---------------------------------------------------------------
    @property
    def keystone(self) -> heat.KeystoneService:
        """Keystone v3 for guests (POLL_SERVER_HEAT, HEAT_SIGNAL) and people: one per service."""
        if self._keystone is None:
            self._keystone = heat.KeystoneService(self.runtime, self)
        return self._keystone

    @property
    def queues(self) -> QueueService:
        """Zaqar's queue API for ZAQAR_MESSAGE and ZAQAR_SIGNAL (engine/guest/queues.py)."""
        if self._queues is None:
            self._queues = QueueService(self.runtime, self)
        return self._queues

    def describe_stack_resource(
        self, action: str | None, request: cfn.SignedRequest, stack_name: str | None, logical_resource_id: str | None
    ) -> dict:
        """POLL_SERVER_CFN: the CFN API's one action, for a request signed by a server's key."""
        cfn.check_action(action)
        return cfn.describe_stack_resource(self.runtime, request, stack_name, logical_resource_id)

    def put_metric_data(self, request: cfn.SignedRequest) -> int:
        """CloudWatch PutMetricData (cfn-push-stats) signed by a server's key: datums stored."""
        return metric_samples.put_metric_data(self.runtime, self.sample_budget, request)

    def report_metrics(self, auth: GuestAuth, server_id: str, body: Any) -> dict:
        """The native metrics endpoint: the server's samples stored; counts of stored and expired."""
        return metric_samples.report(self.runtime, self.sample_budget, auth, server_id, body)

    def collect(self, server_id: str, expires: str | None, signature: str | None) -> tuple[dict, str]:
        """POLL_TEMP_URL: (metadata document, Last-Modified) for a signed collect URL."""
        return temp_url.collect(self.runtime, server_id, expires, signature)

    def temp_url_key(self, project: str) -> str:
        """TEMP_URL_SIGNAL: the Swift account's temp URL key (what an account HEAD answers)."""
        return temp_url.temp_url_keys(self.runtime.keyring, project)[0]

    def verify_temp_url(self, project: str, method: str, path: str, signature: str | None, expires: str | None) -> None:
        temp_url.verify_temp_url(self.runtime.keyring, project, method, path, signature, expires, self.runtime.now())

    def temp_url_signal(self, project: str, path: str, body: Any) -> dict | None:
        """TEMP_URL_SIGNAL: an object PUT through a temp URL, as its deployment's signal."""
        return temp_url.signal(self, project, path, body)

    def issue_bootstrap(
        self, project: str, server_id: str, *, revoke_previous: bool = False, new: bool = False
    ) -> dict:
        """A bootstrap document with a new server credential (engine/guest/enrol.py)."""
        return enrol.issue_bootstrap(self.runtime, project, server_id, revoke_previous=revoke_previous, new=new)

    def credential_headers(self, auth: GuestAuth) -> dict[str, str]:
        """When the accepted bearer credential expires, for the agent to rotate in time; seconds
        are given besides the time so that an agent whose clock is off still gets it right.
        Empty when no bearer credential was accepted (nothing to rotate)."""
        if auth.credential_times is None:
            return {}
        created_at, expires_at = auth.credential_times
        left = max(0, int((expires_at - self.runtime.now()).total_seconds()))
        return {
            "Hearth-Credential-Expires": iso(expires_at),
            "Hearth-Credential-Expires-In": str(left),
            "Hearth-Credential-Lifetime": str(int((expires_at - created_at).total_seconds())),
        }

    # Metadata -----------------------------------------------------------------------------
    def metadata(self, auth: GuestAuth, server_id: str, since: int | None, wait: float) -> tuple[int, dict] | None:
        """(version, metadata) when it differs from `since`; None when the wait ran out unchanged."""
        runtime = self.runtime
        now = runtime.now()
        first_contact = None
        topic = "server:" + server_id
        # Noted before the read: a change published after it is then seen by the wait below.
        before = runtime.notifier.counter(topic)
        with self._refusals_audited(auth, "metadata", server_id), runtime.store.session() as session:
            credential = credentials.authenticate(session, auth.bearer, now)
            credentials.require_subject(credential, "server", server_id)
            auth.credential_times = (credential.created_at, credential.expires_at)
            server = session.get(Server, server_id)
            if server is None or server.deleted_at is not None:
                raise NotFound(f"server '{server_id}' not found")
            if auth.agent and server.agent_version != auth.agent:
                server.agent_version = auth.agent  # written when it changes only
            # A machine enrolled under an id alone has no stack to wake.
            if liveness.seen(runtime, server, now) and server.stack_id:
                first_contact = (server.stack_id, server.resource_name)
            # Stored sealed (secret inputs encrypted); the agent receives them opened.
            version, doc = server.metadata_version, secrets.open_document(runtime.keyring, server.metadata_doc)
        if first_contact:
            runtime.wake(*first_contact)
        if since != version:  # also when the guest has no version yet
            runtime.delivered(server_id, version)
            return version, doc
        if wait <= 0:
            return None
        # Jitter spreads the re-polls of many agents that started waiting together.
        timeout = min(wait, runtime.config.longpoll_max_wait) * random.uniform(0.9, 1.0)

        notifier = runtime.notifier
        looked = [before]  # the topic's publish count when the store (or the payload) was last looked at
        latest: list[tuple[int, dict]] = []

        def changed() -> bool:
            count = notifier.counter(topic)
            if count == looked[0]:
                return False  # nothing published since the last look: nothing to read
            previous, looked[0] = looked[0], count
            # Whoever committed a change here published it with the new document: a woken
            # waiter answers from that, so a burst of changes does not become a burst of reads.
            published = notifier.latest(topic)
            if published is not None and published[0] >= version:
                latest[:] = [published]
                return published[0] != since
            # Another replica's change carries its version alone: one the agent has (or an older
            # one, overtaken) costs no read; a newer or unknown one is read from the store.
            if not notifier.newer(topic, previous, version):
                return False
            with runtime.store.session() as session:
                row = session.get(Server, server_id)
                latest[:] = [(row.metadata_version, secrets.open_document(runtime.keyring, row.metadata_doc))]
            return latest[0][0] != since

        if notifier.wait(topic, changed, timeout):
            runtime.delivered(server_id, latest[0][0])
            return latest[0]
        return None

    def documents(self, wanted: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[int, dict] | None]:
        """For the listener's parked long-polls, many at once (two statements however many):
        `wanted` holds (server id, SHA-256 hex of the bearer credential the poll was accepted
        with); each pair gets the server's (version, metadata) while that credential is still
        live and the server's own, else None (the caller asks the full route, which says why)."""
        if not wanted:
            return {}
        runtime, now = self.runtime, self.runtime.now()
        with runtime.store.session() as session:
            live = {
                row.secret_hash: row.subject_id
                for row in session.execute(
                    select(Credential.secret_hash, Credential.subject_id).where(
                        among(session, Credential.secret_hash, {key for _server, key in wanted}),
                        Credential.kind == "server",
                        Credential.revoked_at.is_(None),
                        Credential.expires_at > now,
                    )
                )
            }
            rows = {
                row.id: (row.metadata_version, row.metadata_doc)
                for row in session.execute(
                    select(Server.id, Server.metadata_version, Server.metadata_doc).where(
                        among(session, Server.id, {server for server, _key in wanted}), Server.deleted_at.is_(None)
                    )
                )
            }
        answers: dict[tuple[str, str], tuple[int, dict] | None] = {}
        for server_id, key in wanted:
            row = rows.get(server_id)
            if row is None or live.get(key) != server_id:
                answers[server_id, key] = None
            else:  # stored sealed (secret inputs encrypted); the agent receives them opened
                answers[server_id, key] = (row[0], secrets.open_document(runtime.keyring, row[1]))
                runtime.delivered(server_id, row[0])
        return answers

    def seen(self, server_ids: list[str]) -> None:
        """The agents of these servers polled just now (through the listener's cache, which
        does not ask the full route): their last_seen_at moves, in one statement."""
        if server_ids:
            with self.runtime.store.session() as session:
                liveness.seen_many(session, server_ids, self.runtime.now())

    # Deployment signals -------------------------------------------------------------------
    @telemetry.signal_counted("deployment")
    def signal_deployment(self, auth: GuestAuth, entry_id: str, body: Any) -> dict:
        if body is not None and not isinstance(body, dict):
            raise InvalidRequest("a deployment signal must be a JSON object (the hook's output)")
        runtime, now = self.runtime, self.runtime.now()
        with self._refusals_audited(auth, "deployment signal", entry_id), runtime.store.session() as session:
            config, deployment = self._deployment(session, auth, entry_id, now)
            answer, change = self._record_signal(session, config, deployment, entry_id, body, now)
            for name, value in (change or {}).items():
                setattr(deployment, name, value)
            if change is not None:
                traces.finish_many(session, [traces.finished_change(entry_id, change["status"], body, now)])
            woken = (deployment.stack_id, deployment.resource_name) if change and deployment.stack_id else None
        if woken is not None:
            runtime.wake(*woken)
            runtime.publish_stack(woken[0])
        return answer

    def signal_deployments(self, signals_: Sequence[tuple[str, str, Any]]) -> list[dict | None]:
        """Many deployment signals, each (bearer credential, entry id, body), stored in one
        transaction: the ASGI front's batches (metadata_server/ingest.py). Each answer is the
        one signal_deployment gives, or None for a signal not accepted as it stands (a credential
        unknown, dead or not the deployment's own, a deployment unknown or finished otherwise, a
        second signal for one deployment in the batch): nothing of that one is stored, and the
        caller hands it to signal_deployment, which refuses it with its reason and its audit
        record (or accepts it, if things changed meanwhile). At most eight statements per batch,
        however many signals: the credentials, configs, deployments (locked, in id order, so
        that two batches never wait on each other crosswise) and servers read in bulk, then the
        deployments, the servers' liveness and the events written in bulk."""
        runtime, now = self.runtime, self.runtime.now()
        answers: list[dict | None] = [None] * len(signals_)
        woken: set[tuple[str, str]] = set()
        with runtime.store.session() as session:
            # Rows of the columns needed, not ORM objects: nothing here is changed through them.
            hashes = {credentials.hash_secret(bearer): bearer for bearer, _, _ in signals_ if bearer}
            known = {
                row.secret_hash: row
                for row in session.execute(
                    select(
                        Credential.secret_hash,
                        Credential.kind,
                        Credential.subject_id,
                        Credential.expires_at,
                        Credential.revoked_at,
                    ).where(among(session, Credential.secret_hash, hashes))
                )
            }
            entry_ids = {entry_id for _, entry_id, _ in signals_}
            configs = {
                row.id: row
                for row in session.execute(
                    select(SoftwareConfig.id, SoftwareConfig.deployment_id, SoftwareConfig.body).where(
                        among(session, SoftwareConfig.id, entry_ids)
                    )
                )
            }
            locked = sorted({c.deployment_id for c in configs.values() if c.deployment_id})
            deployments = {
                row.id: row
                for row in session.execute(
                    select(
                        Deployment.id,
                        Deployment.config_id,
                        Deployment.server_id,
                        Deployment.project,
                        Deployment.stack_id,
                        Deployment.resource_name,
                        Deployment.action,
                        Deployment.status,
                        Deployment.status_reason,
                        Deployment.output_values,
                    )
                    .where(among(session, Deployment.id, locked))
                    .order_by(Deployment.id)
                    .with_for_update()
                )
            }
            servers = {
                row.id: row
                for row in session.execute(
                    # Not the metadata document (the largest column by far): liveness and ownership only.
                    select(
                        Server.id, Server.project, Server.deleted_at, Server.first_contact_at, Server.last_seen_at
                    ).where(among(session, Server.id, {d.server_id for d in deployments.values()}))
                )
            }
            signalled: set[str] = set()
            changes: list[dict[str, Any]] = []
            finished: list[dict[str, Any]] = []  # their traces' (engine/guest/traces.py)
            seen: dict[str, Any] = {}
            by_bearer = {bearer: known.get(digest) for digest, bearer in hashes.items()}
            for n, (bearer, entry_id, body) in enumerate(signals_):
                credential = by_bearer.get(bearer)
                config = configs.get(entry_id)
                deployment = deployments.get(config.deployment_id) if config and config.deployment_id else None
                if (
                    credential is None
                    or not credentials.is_live(credential, now)
                    or deployment is None
                    or deployment.id in signalled
                    or (body is not None and not isinstance(body, dict))
                ):
                    continue
                server = servers.get(deployment.server_id)
                if not _reaches(credential, deployment, server):
                    continue
                try:
                    answers[n], change = self._record_signal(session, config, deployment, entry_id, body, now)
                except Conflict:
                    continue  # raised before anything changed; signal_deployment says why
                signalled.add(deployment.id)
                if server is not None and server.deleted_at is None:
                    seen[server.id] = server
                if change is not None:
                    changes.append({"id": deployment.id, **change})
                    finished.append(traces.finished_change(entry_id, change["status"], body, now))
                    if deployment.stack_id:
                        woken.add((deployment.stack_id, deployment.resource_name))
            if changes:
                update_rows(session, Deployment, changes)
                traces.finish_many(session, finished)
            liveness.seen_loaded(runtime, session, seen.values(), now)
        for stack_id, resource_name in woken:
            runtime.wake(stack_id, resource_name)
            runtime.publish_stack(stack_id)
        # The others are handed to signal_deployment, which counts them.
        telemetry.count_signal("deployment", "accepted", sum(answer is not None for answer in answers))
        return answers

    def _record_signal(
        self, session, config: Any, deployment: Any, entry_id: str, body: Any, now
    ) -> tuple[dict, dict[str, Any] | None]:
        """A signal's result for its deployment: (answer, the deployment's columns to set, or
        None when the signal repeats the stored result); its event added to the caller's unit of
        work. Conflict, before anything is added, when the deployment moved on or finished with
        another result."""
        runtime = self.runtime
        status, reason, outputs = signals.evaluate_signal(config, body)
        # At rest: outputs derived from a secret input sealed, and what the hook echoed of
        # its secret inputs (deploy_password too) redacted from the rest and the reason.
        texts = secrets.input_texts(runtime.keyring, config.body.get("inputs") if config else [])
        derived = bool(config) and any(
            secrets.is_sealed(i.get("value")) and i.get("name") not in secrets.SECRET_INPUTS
            for i in config.body.get("inputs") or []
        )
        outputs = secrets.seal_outputs(runtime.keyring, outputs, derived, texts)
        reason = secrets.redact(reason, texts)
        if deployment.config_id != entry_id:
            raise Conflict(
                f"deployment '{deployment.id}' has moved on to a newer action "
                f"({deployment.action}); this signal is for an earlier one"
            )
        if deployment.status != "IN_PROGRESS":
            if deployment.status == status and secrets.open_tree(
                runtime.keyring, deployment.output_values or {}
            ) == secrets.open_tree(runtime.keyring, outputs):
                return {"status": status, "status_reason": deployment.status_reason}, None
            raise Conflict(
                f"deployment '{deployment.id}' already finished as {deployment.status}"
                f" ({deployment.status_reason}); a different result cannot replace it"
            )
        verdict = "succeeded" if status == "COMPLETE" else "failed"
        self._signal_event(
            session,
            deployment.stack_id,
            deployment.resource_name,
            deployment.id,
            f"Signal: deployment {deployment.id} {verdict}",
        )
        change = {"status": status, "status_reason": reason, "output_values": outputs, "updated_at": now}
        return {"status": status, "status_reason": reason}, change

    def progress(self, auth: GuestAuth, entry_id: str, body: Any) -> None:
        if not isinstance(body, dict):
            raise InvalidRequest('progress must be a JSON object: {"message": str, "percent": number}')
        message, percent = body.get("message", ""), body.get("percent")
        if not isinstance(message, str) or (percent is not None and not isinstance(percent, (int, float))):
            raise InvalidRequest("'message' must be a string and 'percent' a number")
        now = self.runtime.now()
        with self._refusals_audited(auth, "progress", entry_id), self.runtime.store.session() as session:
            if auth.presigned:
                raise credentials.refusal(
                    Forbidden, "progress needs the server's credential (Authorization: Bearer), not a signal URL"
                )
            config, deployment = self._deployment(session, auth, entry_id, now)
            # A message that quotes a secret input is stored with it redacted.
            texts = secrets.input_texts(self.runtime.keyring, config.body.get("inputs") if config else [])
            deployment.progress = {"message": secrets.redact(message[:1000], texts), "percent": percent, "at": iso(now)}

    def _deployment(self, session, auth: GuestAuth, entry_id: str, now):
        credential = None  # an operator (checked by the orchestration API) and a signed URL have none
        if auth.presigned and not auth.operator:
            credentials.verify_presigned(
                self.runtime.keyring,
                (auth.method, "POST", "PUT"),
                urls.deployment_signal_path(entry_id),
                auth.expires,
                auth.signature,
                now,
            )
        elif not auth.operator:
            credential = credentials.authenticate(session, auth.bearer, now)
        config = session.get(SoftwareConfig, entry_id)
        deployment = (
            session.get(Deployment, config.deployment_id, with_for_update=True)
            if config and config.deployment_id
            else None
        )
        if credential is not None and (
            deployment is None or not _reaches(credential, deployment, session.get(Server, deployment.server_id))
        ):
            # The same answer whether the run is unknown or someone else's: no probing.
            raise credentials.refusal(
                Forbidden,
                "this credential does not grant access to that "
                "deployment: only the credential of the deployment's own server "
                "(or its signal URL) reaches it",
                credential.id,
            )
        if deployment is None:
            raise NotFound(f"no deployment run '{entry_id}': it was deleted or never existed")
        if not auth.operator:  # the guest itself (its credential or signal URL): its agent lives
            server = session.get(Server, deployment.server_id)
            if server is not None and server.deleted_at is None:
                liveness.seen(self.runtime, server, now)
        return config, deployment

    # Wait-condition handles ----------------------------------------------------------------
    @telemetry.signal_counted("handle")
    def signal_handle(self, auth: GuestAuth, handle_id: str, body: Any, presigned_path: str) -> dict:
        runtime, now = self.runtime, self.runtime.now()
        signal = signals.normalize_handle_signal(body)
        with self._refusals_audited(auth, "handle signal", handle_id), runtime.store.session() as session:
            if auth.operator:
                pass  # the orchestration API checked the user's role in the handle's project
            elif auth.presigned:
                credentials.verify_presigned(
                    runtime.keyring, (auth.method, "POST", "PUT"), presigned_path, auth.expires, auth.signature, now
                )
            else:
                credential = credentials.authenticate(session, auth.bearer, now)
                credentials.require_subject(credential, "handle", handle_id)
            handle = session.scalar(select(Resource).where(Resource.physical_id == handle_id))
            stack = session.get(Stack, handle.stack_id) if handle is not None else None
            if handle is None or handle.action == "DELETE" or stack is None or stack.deleted_at is not None:
                if auth.presigned:
                    # A pre-signed URL outlives nothing: it is revoked with its handle and stack.
                    raise credentials.refusal(
                        Forbidden,
                        "this signed URL no longer grants anything: its wait condition handle or its stack was deleted",
                    )
                raise NotFound(f"wait condition handle '{handle_id}' not found")
            signal_id, reason = signals.record_handle_signal(session, handle, signal, now)
            self._signal_event(session, handle.stack_id, handle.name, handle_id, f"Signal: {reason}")
            stack_id = handle.stack_id
        runtime.wake(stack_id)
        runtime.publish_stack(stack_id)
        return {"id": signal_id, "status": signal["status"], "reason": reason}

    # Credentials ----------------------------------------------------------------------------
    def rotate_credential(self, auth: GuestAuth) -> dict:
        """A new credential for the bearer's subject; the bearer's own works for the overlap."""
        runtime, now = self.runtime, self.runtime.now()
        # A rotated-away credential asking again (409) is recorded like a refusal: it may be a leak.
        refusals = (Unauthorized, Forbidden, Conflict)
        with self._refusals_audited(auth, "credential rotation", None, refusals), runtime.store.session() as session:
            if auth.presigned:
                raise credentials.refusal(
                    Forbidden, "rotation needs a credential (Authorization: Bearer), not a signed URL"
                )
            credential = credentials.authenticate(session, auth.bearer, now)
            if credential.kind not in ROTATABLE_KINDS:
                raise credentials.refusal(
                    Forbidden,
                    f"a {credential.kind} credential does not rotate: it is written into "
                    "the deployment's inputs or the server's os-collect-config section, which the "
                    "guest cannot change, and is replaced with them",
                    actor=credential.id,
                )
            secret, new, old = credentials.rotate(
                session,
                credential,
                now=now,
                ttl_seconds=runtime.config.credential_ttl,
                overlap_seconds=runtime.config.credential_rotation_overlap,
            )
            answer = {
                "credential": secret,
                "expires_at": iso(new.expires_at),
                "expires_in": _seconds(new.expires_at - now),
                "previous_expires_at": iso(old.expires_at),
            }
            kind = credential.kind
        telemetry.CREDENTIAL_ROTATIONS.labels(kind).inc()  # once committed
        return answer

    def _refusals_audited(
        self, auth: GuestAuth, what: str, subject: str | None, refusals: tuple = (Unauthorized, Forbidden)
    ):
        """Every 401/403 (or `refusals`) recorded in the audit log (credentials.refusals_audited)."""
        return credentials.refusals_audited(self.runtime, auth, what, subject, refusals)

    def _signal_event(self, session, stack_id, resource_name, physical_id, reason) -> None:
        if not stack_id:
            return
        session.add(signals.signal_event(stack_id, resource_name, physical_id, reason, self.runtime.now()))


def _reaches(credential: Any, deployment: Any, server: Any) -> bool:
    """Whether a live credential reaches a deployment (rows or objects): a server's credential
    its own server's deployments, of that server's project while it lives (a deployment of
    another project that names the server's id is not its own); a deployment's own credential
    (HEAT_SIGNAL's password) that deployment only."""
    if credential.kind == "server":
        return (
            credential.subject_id == deployment.server_id
            and server is not None
            and server.deleted_at is None
            and server.project == deployment.project
        )
    return credential.kind == "deployment" and credential.subject_id == deployment.id


def _seconds(delta: dt.timedelta) -> int:
    return max(0, int(delta.total_seconds()))
