"""The publisher: one connection to the bus per process, messages published as oslo.messaging's
rabbit driver publishes notifications, each confirmed by the broker before `publish` returns;
touches the network only.

Why kombu and not oslo.messaging's Notifier: the Notifier's messaging driver catches every
failure to send, logs it with the payload, and returns (oslo_messaging/notify/messaging.py),
so its caller cannot know a notification was lost and would advance its cursor past it. Here
the connection has publisher confirms on (`confirm_publish`, as oslo.messaging's own rabbit
driver sets): `publish` returns once the broker has the message and raises otherwise, and the
delivery loop records progress only then.

The wire is oslo.messaging's (impl_rabbit `notify_send`, recorded in
tests/differential/notifications/): exchange `heat`, a topic exchange neither durable nor
auto-deleted (oslo.messaging's defaults: a declaration that differs is refused by RabbitMQ); a
queue named after the routing key (`notifications.info`) declared and bound first, so that a
notification sent before any consumer listens waits in it; the body the messagingv2 envelope
`{"oslo.version": "2.0", "oslo.message": "<JSON>"}`, content type application/json, persistent.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import unquote, urlsplit

import kombu

from engine.errors import InvalidRequest
from engine.secrets import redact_url_password, remember

log = logging.getLogger(__name__)

EXCHANGE = "heat"  # Heat's control exchange (messaging.setup: set_transport_defaults('heat'))
SCHEMES = {"rabbit": "amqp", "amqp": "amqp", "kombu": "amqp", "amqps": "amqps"}


class BusUnavailable(RuntimeError):
    """The bus could not take a message (unreachable, refused, not confirmed)."""


def kombu_url(transport_url: str) -> str:
    """oslo.messaging's transport URL as kombu's: `rabbit://u:p@h1:5672,u:p@h2:5672/vhost` is
    `amqp://u:p@h1:5672/vhost;amqp://u:p@h2:5672/vhost` (kombu's failover list)."""
    parts = urlsplit(transport_url)
    scheme = SCHEMES.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise InvalidRequest(
            f"HEARTH_NOTIFICATION_TRANSPORT_URL must be a RabbitMQ transport URL "
            f"(rabbit://USER:PASSWORD@HOST:PORT/VHOST), not '{redact_url_password(transport_url)}'"
        )
    for host in parts.netloc.split(","):  # the passwords, for the log redactor
        if "@" in host and ":" in host.rsplit("@", 1)[0]:
            remember([unquote(host.rsplit("@", 1)[0].split(":", 1)[1])])
    return ";".join(f"{scheme}://{host}{parts.path or '/'}" for host in parts.netloc.split(","))


class Bus:
    """Publishes envelopes to exchange `heat`; reconnects on the next publish after a failure."""

    def __init__(self, transport_url: str, connect_timeout: float = 5.0):
        self._url = kombu_url(transport_url)
        self.shown = redact_url_password(transport_url)
        self._connect_timeout = connect_timeout
        self._connection: kombu.Connection | None = None
        self._producer: kombu.Producer | None = None
        self._declared: set[str] = set()
        self._exchange = kombu.Exchange(EXCHANGE, type="topic", durable=False, auto_delete=False)

    def publish(self, routing_key: str, message: dict[str, Any]) -> None:
        """Publish one message (oslo.messaging's, before the envelope); raise BusUnavailable
        unless the broker confirmed it."""
        body = {"oslo.version": "2.0", "oslo.message": json.dumps(message)}
        try:
            producer = self._ready()
            if routing_key not in self._declared:
                queue = kombu.Queue(
                    routing_key, self._exchange, routing_key=routing_key, durable=False, auto_delete=False
                )
                queue(producer.channel).declare()
                self._declared.add(routing_key)
            producer.publish(
                body,
                exchange=self._exchange,
                routing_key=routing_key,
                serializer="json",
                delivery_mode=2,
                retry=False,
            )
        except Exception as error:  # noqa: BLE001 - a socket, AMQP or confirm failure: reconnect next time
            self.close()
            raise BusUnavailable(f"{self.shown}: {type(error).__name__}: {error}") from None

    def _ready(self) -> kombu.Producer:
        if self._producer is None:
            connection = kombu.Connection(
                self._url,
                connect_timeout=self._connect_timeout,
                # confirms; and socket timeouts, so that a broker gone silent fails a publish
                # instead of hanging it (py-amqp takes them from kombu's transport options)
                transport_options={
                    "confirm_publish": True,
                    "read_timeout": self._connect_timeout * 2,
                    "write_timeout": self._connect_timeout * 2,
                },
                heartbeat=0,
            )
            connection.connect()
            self._connection = connection
            self._producer = kombu.Producer(connection.channel(), exchange=self._exchange)
            self._declared.clear()
        return self._producer

    def close(self) -> None:
        connection, self._connection, self._producer = self._connection, None, None
        if connection is not None:
            try:
                connection.release()
            except Exception:  # a broken connection is dropped either way
                log.debug("closing the bus connection failed", exc_info=True)
