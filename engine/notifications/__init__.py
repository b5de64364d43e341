"""Heat's notifications on a message bus (docs/notifications.md): the event stream's stack and
resize events published as oslo.messaging `messagingv2` envelopes on exchange `heat`.

- `messages.py`: which events are notifications and what they say (pure: rows in, dicts out);
- `bus.py`: the publisher (kombu, publisher confirms) and the transport URL's translation;
- `delivery.py`: the delivery loop, one replica at a time under the lease `notifications`,
  reading the event log from the consumer `notifications`' cursors: at least once, in order
  per project.
"""
