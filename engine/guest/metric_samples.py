"""Metric samples stored and pruned: the two reporting operations (the native endpoint's and
CloudWatch PutMetricData's), each authenticating its server, checking (engine/guest/metrics.py)
and storing in one transaction; and `Retention`, the pruning thread; touches the store (and the
audit log for refusals) alone.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, func, insert, select

from engine import audit
from engine.errors import Forbidden, InvalidRequest
from engine.guest import credentials, liveness, metrics
from engine.guest.credentials import GuestAuth
from engine.guest.transports import cfn
from engine.runtime import Runtime
from engine.store.models import MetricSample

log = logging.getLogger(__name__)


def report(runtime: Runtime, budget: metrics.SampleBudget, auth: GuestAuth, server_id: str, body: Any) -> dict:
    """The native endpoint: samples from the server's own bearer credential (exactly as its
    metadata route checks it), stored with the server's project and id."""
    now = runtime.now()
    with credentials.refusals_audited(runtime, auth, "metrics", server_id), runtime.store.session() as session:
        _, server = credentials.own_server(session, auth, server_id, now, "metrics")
        if not isinstance(body, dict) or set(body) != {"metrics"}:
            raise InvalidRequest('metrics: the body must be {"metrics": [{"name": ..., "value": ...}, ...]}')
        kept, expired = metrics.check_samples(body["metrics"], now, runtime.config)
        budget.take(server_id, len(kept), runtime.config.metric_samples_per_minute)
        store_samples(session, server.project, server_id, kept)
        liveness.seen(runtime, server, now)
    return {"stored": len(kept), "expired": expired}


def put_metric_data(runtime: Runtime, budget: metrics.SampleBudget, req: cfn.SignedRequest) -> int:
    """CloudWatch PutMetricData signed with a server's EC2 key pair (the CFN credentials
    cfn-push-stats reads from /etc/cfn/cfn-credentials): the datums stored for that server;
    how many were stored."""
    now = runtime.now()
    try:
        with runtime.store.session() as session:
            _key, server, _doc = cfn.authenticate(session, runtime.keyring, req, now)
            namespace, samples = metrics.query_samples(req.params)
            if not namespace:
                raise InvalidRequest("Namespace: required")
            kept, _expired = metrics.check_samples(samples, now, runtime.config, where="MetricData")
            budget.take(server.id, len(kept), runtime.config.metric_samples_per_minute)
            store_samples(session, server.project, server.id, kept)
            liveness.seen(runtime, server, now)
        return len(kept)
    except Forbidden as error:
        audit.record_refusal(
            runtime,
            error,
            api="cfn",
            operation="PutMetricData",
            remote_addr=req.remote_addr,
            via=cfn.signature_kind(req),
        )
        raise


def store_samples(session, project: str, server_id: str, samples: list[dict]) -> None:
    """Add the checked samples to the caller's unit of work, in one INSERT."""
    if samples:
        session.execute(insert(MetricSample), [{"project": project, "server_id": server_id, **s} for s in samples])


def prune(runtime: Runtime) -> int:
    """Delete the samples older than metric_retention_seconds, then each server's oldest beyond
    metric_max_samples_per_server; how many were deleted. Idempotent: replicas may run it at
    once (each DELETE removes what is still there)."""
    config = runtime.config
    cutoff = runtime.now() - dt.timedelta(seconds=config.metric_retention_seconds)
    deleted = 0
    with runtime.store.session() as session:
        deleted += session.execute(delete(MetricSample).where(MetricSample.timestamp < cutoff)).rowcount or 0
    cap = config.metric_max_samples_per_server
    with runtime.store.session() as session:
        crowded = session.scalars(
            select(MetricSample.server_id)
            .where(MetricSample.server_id.is_not(None))
            .group_by(MetricSample.server_id)
            .having(func.count() > cap)
        ).all()
    for server_id in crowded:
        with runtime.store.session() as session:
            beyond = (
                select(MetricSample.id)
                .where(MetricSample.server_id == server_id)
                .order_by(MetricSample.timestamp.desc(), MetricSample.id.desc())
                .offset(cap)
            )
            statement = delete(MetricSample).where(MetricSample.id.in_(beyond))
            deleted += session.execute(statement.execution_options(synchronize_session=False)).rowcount or 0
    return deleted


class Retention:
    """Prunes metric samples, and runs the prunes in `also`, every metric_prune_seconds (plus up to 10 %, so that replicas
    started together do not prune together) on a daemon thread of its own; every replica runs
    one, whatever its role."""

    def __init__(self, runtime: Runtime, also: tuple[Callable[[Runtime], int], ...] = ()):
        self.runtime = runtime
        self.also = also  # other prunes run on the same turn (expired user-queue messages)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.runtime.config.metric_prune_seconds <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="metric-retention", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        every = self.runtime.config.metric_prune_seconds
        while not self._stop.wait(every * random.uniform(1.0, 1.1)):
            try:
                deleted = prune(self.runtime)
            except Exception:  # the next turn tries again; the rows only wait
                log.warning("could not prune metric samples; retrying in %s s", every, exc_info=True)
                continue
            if deleted:
                log.info("pruned %d metric samples", deleted)
            for other in self.also:
                try:
                    other(self.runtime)
                except Exception:  # the next turn tries again
                    log.warning("could not run %s; retrying in %s s", other.__qualname__, every, exc_info=True)
